"""schemathesis hooks for scripts/fuzz.sh: what the API promises that no schema can say.

`before_call`, idempotency keys: a create repeated with the same Idempotency-Key returns the
first answer, whatever its body holds (SPEC §1). Hypothesis draws small keys ("0", "a") again and
again, so without this hook a schema-violating create would be "accepted" with the replay of an
earlier create's 201. Every valid key is made unique per request (a suffix, within the 200
characters), so that each create is judged on its own body; invalid keys stay as generated and
must still be refused. Replays are tested in tests/api_hardening.rs and tests/compat_store.rs.

`ast.parse` under a lock: CPython 3.11 before 3.11.8 keeps the AST converter's recursion depth
in interpreter-wide state (gh-106905), so two workers whose hypothesis strategies describe a
lambda at the same moment fail with "AST constructor recursion depth mismatch" — a crash of
the tool, reported as an error of the run.

`filter_failure`, multipart parts: every part is text on the wire, so a type change the
generator made to one is not an invalid request (see `_is_multipart_type_change`).
"""

import ast
import itertools
import re
import threading

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.mutations import OperatorKind
from schemathesis.core.parameters import ParameterLocation

_VALID_KEY = re.compile(r"[ -~]{1,200}")
_SUFFIX_LEN = 12
_counter = itertools.count()

_ast_lock = threading.Lock()
_unlocked_parse = ast.parse


def _parse_one_at_a_time(*args, **kwargs):
    with _ast_lock:
        return _unlocked_parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time


@schemathesis.hook
def before_call(context, case, **kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() != "idempotency-key":
            continue
        key = headers[name]
        if isinstance(key, str) and _VALID_KEY.fullmatch(key) and key.strip():
            suffix = f"~{next(_counter):0{_SUFFIX_LEN - 1}d}"
            headers[name] = key[: 200 - len(suffix)] + suffix


def _is_multipart_type_change(case) -> bool:
    """Whether every mutation of a negative case is a type change inside a multipart body.

    A multipart text part is a string on the wire whatever the generator put in it: a field of
    type string changed to `null` is sent as the text "null", a number as its digits, so the
    request is a valid one. schemathesis knows this for path and query parameters, not for
    multipart parts (4.32), and would report the server for accepting such a request.
    """
    media_type = (case.media_type or "").lower()
    meta = case.meta
    if not media_type.startswith("multipart/") or meta is None:
        return False
    mutations = getattr(meta.phase.data, "mutations", ())
    return bool(mutations) and all(
        m.parameter_location == ParameterLocation.BODY and m.operator == OperatorKind.CHANGE_TYPE
        for m in mutations
    )


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure except "schema-violating request accepted" for a request that the
    wire makes valid (see `_is_multipart_type_change`)."""
    return not (isinstance(failure, AcceptedNegativeData) and _is_multipart_type_change(case))
