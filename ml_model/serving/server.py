"""The local SageMaker-compatible endpoint: a threaded HTTP server around `EndpointApp`, serving one
model (variant `AllTraffic`) or several production variants split by weight."""

from __future__ import annotations

import logging
import socket
import threading
from typing import TYPE_CHECKING, Any, Self

from werkzeug.serving import WSGIRequestHandler, make_server

from ml_model.artifact import load_artifact
from ml_model.exceptions import ArtifactError, EndpointPortInUseError
from ml_model.serving import DEFAULT_ENDPOINT_NAME, DEFAULT_PORT
from ml_model.serving.app import EndpointApp

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from types import TracebackType

    from werkzeug.serving import BaseWSGIServer

    from ml_model.artifact import ModelArtifact
    from ml_model.serving.app import ProductionVariant

__all__ = ["DEFAULT_PORT", "LocalEndpointServer"]

logger = logging.getLogger(__name__)

# The container's port (SAGEMAKER_BIND_TO_PORT defaults to 8080).


class _RequestHandler(WSGIRequestHandler):
    # Answer in HTTP/1.1, as the container does (werkzeug defaults to 1.0). werkzeug still closes the
    # connection after each response, so every call is a new connection on a new thread; a keep-alive
    # server (cheroot) measured no faster on loopback for 1-row or 500-row calls.
    protocol_version = "HTTP/1.1"
    # A response is two writes (headers, body): with Nagle's algorithm the body would wait for the
    # client's (delayed) acknowledgement of the headers.
    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("request", extra={"path": self.path, "status": str(code)})


class LocalEndpointServer:
    """Serve one artifact, or production variants, on a background thread, one thread per connection.

    Args:
        model: the model to serve as variant `AllTraffic` (None serves 500s, as the container does with
            a model it cannot load), or the production variants with their weights.
        host: address to bind; loopback by default (the endpoint has no authentication).
        port: TCP port; 0 picks a free one (read it back from `port`).
        endpoint_name: the name that `invoke_endpoint` must use.
        region: region written into runtime error messages.
        middleware: wraps the WSGI application (tests use it to inject faults).
        load_error: why the single model could not be loaded.
        seed: seeds the draw of a variant by weight (tests); None draws from the system's entropy.

    Raises:
        ValueError, FeatureSpecMismatchError: variants an endpoint cannot serve (`check_variants`).
    """

    def __init__(
        self,
        model: ModelArtifact | Sequence[ProductionVariant] | None,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        endpoint_name: str = DEFAULT_ENDPOINT_NAME,
        region: str = "us-east-1",
        middleware: Callable[[EndpointApp], Callable[..., object]] | None = None,
        load_error: str = "",
        seed: int | None = None,
    ) -> None:
        self.host = host
        self.endpoint_name = endpoint_name
        self.app = EndpointApp(model, endpoint_name=endpoint_name, region=region, load_error=load_error, seed=seed)
        self._wsgi = middleware(self.app) if middleware is not None else self.app
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_path(cls, path: Path, *, strict: bool = True, **kwargs: Any) -> LocalEndpointServer:
        """A server for the artifact at `path` (a folder holding model.tar.gz, or the tarball).

        Args:
            path: where the artifact is.
            strict: raise when it cannot be loaded; otherwise serve 500s as the container does.
            **kwargs: the constructor's other arguments.

        Raises:
            ArtifactError: the artifact cannot be loaded and `strict` is set.
        """
        try:
            return cls(load_artifact(path), **kwargs)
        except ArtifactError as e:
            if strict:
                raise
            logger.error("the model cannot be loaded: serving 500s", extra={"path": str(path), "error": str(e)})
            return cls(None, load_error=str(e), **kwargs)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the endpoint is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL: `endpoint_url` for boto3's sagemaker-runtime client, and its sagemaker client."""
        return f"http://{self.host}:{self.port}"

    def bind(self) -> Self:
        """Bind the port without serving yet.

        Raises:
            EndpointPortInUseError: the port is taken.
        """
        where = f"{self.host}:{self._requested_port}"
        if self._requested_port:
            # werkzeug's make_server may print and exit on a taken port: probe first.
            try:
                with socket.create_server((self.host, self._requested_port)):
                    pass
            except OSError as e:
                raise EndpointPortInUseError(f"cannot listen on {where}: {e.strerror}") from e
        try:
            self._server = make_server(
                self.host,
                self._requested_port,
                self._wsgi,  # type: ignore[arg-type]
                threaded=True,
                request_handler=_RequestHandler,
            )
        except (OSError, SystemExit) as e:
            raise EndpointPortInUseError(f"cannot listen on {where}") from e
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        return self

    def start(self) -> Self:
        """Bind and serve in a daemon thread."""
        if self._server is None:
            self.bind()
        assert self._server is not None  # noqa: S101 (bind sets it)
        # A short poll interval makes stop() quick; the loop is idle between polls.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-endpoint", daemon=True
        )
        self._thread.start()
        logger.info("local endpoint listening", extra={"url": self.url, "endpoint_name": self.endpoint_name})
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the foreground `serve` command)."""
        if self._server is None:
            self.bind()
        assert self._server is not None  # noqa: S101
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        """Stop serving, close open connections' listener and release the port."""
        if self._server is not None:
            if self._thread is not None:
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
