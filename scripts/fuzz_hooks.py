"""schemathesis hooks for scripts/fuzz.sh.

A create repeated with the same Idempotency-Key returns the first answer, whatever its body
holds (SPEC §1), which no schema can say. Hypothesis draws small keys ("0", "a") again and
again, so without this hook a schema-violating create would be "accepted" with the replay of an
earlier create's 201. Every valid key is made unique per request (a suffix, within the 200
characters), so that each create is judged on its own body; invalid keys stay as generated and
must still be refused. Replays are tested in tests/api_hardening.rs and tests/compat_store.rs.
"""

import itertools
import re

import schemathesis

_VALID_KEY = re.compile(r"[ -~]{1,200}")
_SUFFIX_LEN = 12
_counter = itertools.count()


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
