"""A small HTTP server in a thread of its own (edge: the standard library's ``http.server``),
shared by the metrics and health endpoints and the webhook receiver: a slow client never
blocks the bot's event loop."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ThreadedServer:
    """Serves ``handler`` on ``host:port`` (port 0 picks a free one) from :meth:`start`."""

    def __init__(
        self, host: str, port: int, handler: type[BaseHTTPRequestHandler], name: str
    ) -> None:
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (also when never started)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()


def answer(
    request: BaseHTTPRequestHandler, status: int, body: bytes = b"", kind: str = "text/plain"
) -> None:
    """Send a whole response: status, length, and the body if any."""
    request.send_response(status)
    if body:
        request.send_header("Content-Type", kind)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    if body:
        request.wfile.write(body)
