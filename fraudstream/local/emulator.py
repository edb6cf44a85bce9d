"""The embedded AWS: a moto server speaking real HTTP on loopback, so boto3, pyarrow, the AWS CLI
and Spark reach it exactly as they would reach AWS. Port 4566 matches LocalStack."""

from __future__ import annotations

import logging
import socket
import threading
from typing import TYPE_CHECKING, Self

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from fraudstream.exceptions import FraudstreamError
from fraudstream.local import DEFAULT_PORT, _moto_patches

if TYPE_CHECKING:
    from types import TracebackType

    from werkzeug.serving import BaseWSGIServer

__all__ = ["DEFAULT_PORT", "EmbeddedAws", "PortInUseError"]
logger = logging.getLogger(__name__)


class PortInUseError(FraudstreamError):
    """Raised when the emulator's port is already taken."""

    hint = "is LocalStack or another `fraudstream local up` already running there? Stop it or pass --port"


class EmbeddedAws:
    """A moto server on a background thread.

    Args:
        host: address to bind; loopback by default (the emulator has no authentication).
        port: TCP port; 0 picks a free one (read it back from `port`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.host = host
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Bind the port and serve in a daemon thread.

        Raises:
            PortInUseError: the port is taken.
        """
        _moto_patches.install()
        # NOTE: werkzeug logs every request at INFO and adds its own stderr handler when the
        # application configured none; the emulator's traffic is not the user's business.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = DomainDispatcherApplication(create_backend_app)
        where = f"{self.host}:{self._requested_port}"
        # Probe first: werkzeug's make_server prints to stderr and exits the process on a taken port.
        try:
            with socket.create_server((self.host, self._requested_port)):
                pass
        except OSError as e:
            raise PortInUseError(f"cannot listen on {where}: {e.strerror}") from e
        try:
            self._server = make_server(
                self.host, self._requested_port, app, threaded=True, request_handler=MotoRequestHandler
            )
        except (OSError, SystemExit) as e:
            raise PortInUseError(f"cannot listen on {where}") from e
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)
        self._thread.start()
        logger.debug("embedded AWS listening", extra={"endpoint_url": self.endpoint_url})
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
