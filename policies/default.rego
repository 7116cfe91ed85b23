# The tool executor's default policy, for every tenant without a policies/<tenant>.rego of its own.
#
# The executor asks for data.agentlog.tools with the input
#   {"tenant", "tool", "arguments", "request_id", "session_id", "timeout_ms"}
# and reads `decision` ("allow", "deny" or "approve": a person decides through
# POST /v1/tool-executions/{id}/approve or /deny) and `reason`, both recorded with the execution.
# Edits take effect on the next request, without a restart. A policy that fails (does not compile,
# leaves `decision` undefined, answers something else) denies every call: see docs/tools.md.
package agentlog.tools

import rego.v1

builtin := {"echo", "calculator", "timestamp", "http_fetch"}

default decision := "deny"

default reason := "the default policy allows only agentlog's built-in tools; add a rule in policies/<tenant>.rego"

decision := "allow" if input.tool in builtin

reason := sprintf("%s is a built-in tool, allowed for every tenant", [input.tool]) if input.tool in builtin
