"""The one Logger, Tracer and Metrics of the service, shared by every function and module.

Powertools reads its settings (service name, namespace, log level, tracing switches) from the
POWERTOOLS_* variables that template.yaml sets in Globals.
"""

import logging
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# botocore's DEBUG output prints request parameters and response bodies verbatim, which for
# Secrets Manager means bot tokens. Raising the application log level to DEBUG (Lambda's
# advanced logging controls set the root logger) must not turn that on.
logging.getLogger("botocore").setLevel(logging.INFO)

# slack_sdk's block parser logs a skipped unknown element with its full content at WARNING: that
# is notification content, which has no place in logs. Validation reports the problem instead.
logging.getLogger("slack_sdk.models").setLevel(logging.ERROR)


class _DropTracerExceptionEcho(logging.Filter):
    """Tracer.capture_method logs every exception leaving a traced method at ERROR, traceback and
    all. Ours are outcomes (a 404, a retry after Retry-After, a dead-letter) that we log once,
    with their code, where they are decided; the X-Ray subsegment still records the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Exception received from")


logging.getLogger("aws_lambda_powertools.tracing.tracer").addFilter(_DropTracerExceptionEcho())

# Reads such as GET /integration/channel publish no business metric; Powertools would warn about
# that on every such invocation and drown the useful lines.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
