"""The ceiling: a constant response on the same stack as the endpoint (FastAPI, uvicorn, httptools, uvloop).

Usage: ``python benchmarks/constant_app.py PORT`` (started by bench_serve.py).
"""

import sys

import uvicorn
from fastapi import FastAPI, Request, Response

app = FastAPI()
ANSWER = b'{"predictions":["setosa"]}'


@app.get("/ping")
def ping() -> Response:
    return Response("\n")


@app.post("/invocations")
async def invocations(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning",
                loop="uvloop", http="httptools")  # fmt: skip
