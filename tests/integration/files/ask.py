"""Ask the head's llama-server once and write what comes back, as it comes.

    python3 -c "$(cat ask.py)" URL BODY_JSON OUT_FILE TIMEOUT_S [CA_FILE]

POSTs BODY_JSON to URL with the key in LLAMA_API_KEY (from the environment,
never argv), trusting CA_FILE for an https URL, copies the answer line by line to OUT_FILE (so a stream can be
watched while it lasts), and ends it with a line saying how the request ended.
Standard library only: it runs with the head's python3.
"""

import json
import os
import ssl
import sys
import urllib.request

url, body, out, timeout = sys.argv[1], sys.argv[2].encode(), sys.argv[3], float(sys.argv[4])
context = ssl.create_default_context(cafile=(sys.argv[5:] or [""])[0] or None)
headers = {"Content-Type": "application/json"}
if os.environ.get("LLAMA_API_KEY"):
    headers["Authorization"] = "Bearer " + os.environ["LLAMA_API_KEY"]
with open(out, "w", encoding="utf-8") as sink:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=timeout, context=context) as answer:
            for line in answer:
                sink.write(line.decode(errors="replace"))
                sink.flush()
        ended = "complete"
    except Exception as error:  # noqa: BLE001 - how it ended is the output
        ended = type(error).__name__ + ": " + str(error)
    sink.write("\n" + json.dumps({"ended": ended}) + "\n")
