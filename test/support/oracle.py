"""Trackio's own Python client as the oracle of the property tests (test/properties.test.ts).

A long-lived process: each line on stdin is one run to log, as JSON; each answer is one line
on the original stdout. Values arrive in the tagged form of test/support/transfer.ts, because
plain JSON cannot carry NaN, +-Infinity, -0.0 or the int/float distinction:

  ["i", "123"]  int          ["f", "1e+21"]  float (the JS shortest repr, exact)
  ["s", "..."]  str          ["b", true]     bool          ["z"]  None
  ["a", [...]]  list         ["o", [[key, value], ...]]  dict, in key order
  ["h", [data...], bins]  trackio.Histogram    ["md", text]  trackio.Markdown
  ["tr", messages, metadata, spans]  trackio.Trace (each part tagged; metadata may be ["z"])

Strings travel as JSON strings; json.loads turns a "\\ud800" escape into the lone surrogate
itself, so the oracle gets exactly the string the JS test logged.

Request:  {"url": write URL, "project", "run", "config": tagged dict or null,
           "records": [{"step", "metrics": tagged dict}], "alerts": [{"title","text","level","step"}]}
Answer:   {"run_id", "warnings": [{"step", "message"}], "error": str or null}

Trackio prints to stdout; the answers use a private copy of the original stdout and
everything else goes to stderr.
"""

import json
import os
import sys
import traceback
import warnings

answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr

import orjson  # noqa: E402
import trackio  # noqa: E402
from trackio.alerts import AlertLevel  # noqa: E402
from trackio.utils import serialize_values  # noqa: E402


def decode(tagged):
    tag = tagged[0]
    if tag == "i":
        return int(tagged[1])
    if tag == "f":
        return float(tagged[1])
    if tag == "s" or tag == "b":
        return tagged[1]
    if tag == "z":
        return None
    if tag == "a":
        return [decode(v) for v in tagged[1]]
    if tag == "o":
        return {k: decode(v) for k, v in tagged[1]}
    if tag == "h":
        return trackio.Histogram([decode(v) for v in tagged[1]], num_bins=tagged[2])
    if tag == "md":
        return trackio.Markdown(tagged[1])
    if tag == "tr":
        return trackio.Trace(decode(tagged[1]), metadata=decode(tagged[2]), spans=decode(tagged[3]))
    raise ValueError(f"unknown tag {tag!r}")


def decode_record(tagged, step, out):
    # A value Python cannot even build (a Histogram numpy cannot bin) is left out of the
    # record, and the answer says why, for the failure message.
    record = {}
    for key, value in tagged[1]:
        try:
            record[key] = decode(value)
        except Exception as e:
            out["warnings"].append({"step": step, "message": f"oracle: building {key!r} raised {e!r}"})
    return record


def run_one(req):
    out = {"run_id": None, "warnings": [], "error": None}

    def note(step, caught):
        for w in caught:
            out["warnings"].append({"step": step, "message": str(w.message)})

    config = decode(req["config"]) if req.get("config") is not None else None
    if config is not None:
        # Trackio's client loses a whole config holding NaN or +-Infinity, without a warning
        # (init() keeps the floats, which the server's JSON parser refuses). The oracle stores
        # such values the way the same client stores them in metrics ("NaN", "Infinity"),
        # which is what the Node client is asked to do, and says so in its answer.
        safe = serialize_values(config)
        if orjson.dumps(safe) != orjson.dumps(config, option=orjson.OPT_SERIALIZE_NUMPY):
            out["warnings"].append(
                {"step": None, "message": "oracle: non-finite config values stored as strings, as in metrics (Trackio's client would drop the config)"}
            )
        config = safe
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = trackio.init(
            project=req["project"],
            name=req["run"],
            server_url=req["url"],
            config=config,
            auto_log_cpu=False,
            auto_log_gpu=False,
        )
    note(None, caught)
    out["run_id"] = run.id
    try:
        for rec in req["records"]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                trackio.log(decode_record(rec["metrics"], rec["step"], out), step=rec["step"])
            note(rec["step"], caught)
        for a in req.get("alerts", []):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run.alert(a["title"], a["text"], AlertLevel(a["level"]), step=a["step"])
            note(a["step"], caught)
    finally:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trackio.finish()
        note(None, caught)
    return out


for line in sys.stdin:
    if not line.strip():
        continue
    try:
        answer = run_one(json.loads(line))
    except Exception:
        answer = {"run_id": None, "warnings": [], "error": traceback.format_exc()}
    # ensure_ascii: a warning may quote a lone surrogate, which UTF-8 cannot carry.
    answers.write(json.dumps(answer, ensure_ascii=True) + "\n")
    answers.flush()
