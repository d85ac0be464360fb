"""Peer "fastapi": FastAPI + uvicorn, the stack many of wsframe's users come from.

Started by bench/run as
  bench/.venv-fastapi/bin/python -m uvicorn server:app --app-dir bench/fastapi \
      --host 127.0.0.1 --port PORT --ws websockets-sansio --log-level warning --no-access-log
(one worker process, uvicorn's default). Same routes as server-wsframe.rs:
- `/ws`: text echo, as the FastAPI docs write it;
- `/hs/{room}`: a dependency (the guard) requires the query `token=t`, then the handler
  accepts and waits for the client's close. Without the token the connection is
  refused before the upgrade (FastAPI answers the handshake with HTTP 403).
"""
from fastapi import Depends, FastAPI, WebSocket, WebSocketDisconnect, WebSocketException, status

app = FastAPI()


@app.websocket("/ws")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(text)
    except WebSocketDisconnect:
        pass


async def token(token: str | None = None) -> str:
    """The guard of the handshake scenario: a token in the query."""
    if token != "t":
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="token required")
    return token


@app.websocket("/hs/{room}")
async def hs(websocket: WebSocket, room: str, _token: str = Depends(token)):
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            break
