"""The template helpers live in local/template.py (the local stack uses them too)."""

from local.template import (  # noqa: F401 - re-exported for the tests
    ROOT,
    TEMPLATE,
    create_queues,
    create_rules,
    create_tables,
    function_env,
    global_environment,
    load_template,
    parameter_default,
    policies,
    resources,
    table_env,
)
