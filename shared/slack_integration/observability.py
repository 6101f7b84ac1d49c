"""The one Logger, Tracer and Metrics of the service, shared by every function and module.

Powertools reads its settings (service name, namespace, log level, tracing switches) from the
POWERTOOLS_* variables that template.yaml sets in Globals.
"""

import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None: ...


class _NoTracing(BaseProvider):
    """The provider when tracing is off (TracingMode=PassThrough, tests, the local stack).

    Powertools' default provider imports the X-Ray SDK even when tracing is disabled, which
    costs every cold start about 100 ms for nothing; with this one, capture_method and
    capture_lambda_handler cost a no-op context manager.
    """

    @contextlib.contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _NoSegment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncIterator[BaseSegment]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Sequence[str]) -> None: ...
    def patch_all(self) -> None: ...


logger = Logger()
# Powertools' own rule for "tracing is off": POWERTOOLS_TRACE_DISABLED, or not running in Lambda.
tracer = Tracer(provider=_NoTracing(), auto_patch=False) if Tracer._is_tracer_disabled() else Tracer()
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
