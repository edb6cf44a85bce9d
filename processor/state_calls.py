"""Many MapState reads or writes in one exchange with the JVM.

PySpark's state API makes one request and waits for its answer per `getValue` or `updateValue`:
with a few thousand cards and terminals per micro-batch, the round trips (two context switches
each, on a machine whose cores are busy) cost more than everything else the stages do. The JVM's
state server answers requests one after the other in the order they come, so the requests of many
entries can go out together and their answers be read after: the same messages PySpark 4.1 sends
(`pyspark.sql.streaming.map_state_client`), without a wait between them.

Reads send small requests and get the values back; writes send the values and get a status back:
either way one direction carries little, so neither side can fill the socket while the other is
blocked. Both go in chunks of `PIPELINE` requests all the same.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Final

from pyspark.errors import PySparkRuntimeError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyspark.sql.streaming.stateful_processor import MapState

__all__ = ["get_values", "update_values"]

PIPELINE: Final = 64


def _exchange(state: MapState, calls: Sequence[Any]) -> list[bytes]:
    """Send one MapState call per item of `calls` (each a `MapStateCall` field name and message), a
    chunk at a time, and return each answer's value."""
    import pyspark.sql.streaming.proto.StateMessage_pb2 as message

    api: Any = state._mapStateClient._stateful_processor_api_client  # noqa: SLF001 - see the module doc
    name = state._stateName  # noqa: SLF001
    values = []
    for start in range(0, len(calls), PIPELINE):
        chunk = calls[start : start + PIPELINE]
        for kind, call in chunk:
            request = message.StateRequest(
                stateVariableRequest=message.StateVariableRequest(
                    mapStateCall=message.MapStateCall(stateName=name, **{kind: call})
                )
            ).SerializeToString()
            api.sockfile.write(struct.pack("!ii", 0, len(request)))  # the format's version, the length
            api.sockfile.write(request)
        api.sockfile.flush()
        for _ in chunk:
            status, error, value = api._receive_proto_message()  # noqa: SLF001
            if status != 0:
                raise PySparkRuntimeError(f"map state {name}: {error}")
            values.append(value)
    return values


def get_values(state: MapState, keys: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...] | None]:
    """`state.getValue(key)` of each key, in one exchange per chunk. Keys and values must be tuples
    of fields that need no conversion (strings, bytes, numbers), as the pickled forms are sent as they are."""
    import pyspark.sql.streaming.proto.StateMessage_pb2 as message

    api: Any = state._mapStateClient._stateful_processor_api_client  # noqa: SLF001
    calls = [("getValue", message.GetValue(userKey=api.pickleSer.dumps(tuple(key)))) for key in keys]
    return [api.pickleSer.loads(value) if value else None for value in _exchange(state, calls)]


def update_values(state: MapState, items: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
    """`state.updateValue(key, value)` of each item, in one exchange per chunk (same restrictions)."""
    import pyspark.sql.streaming.proto.StateMessage_pb2 as message

    api: Any = state._mapStateClient._stateful_processor_api_client  # noqa: SLF001
    dumps = api.pickleSer.dumps
    calls = [("updateValue", message.UpdateValue(userKey=dumps(tuple(k)), value=dumps(tuple(v)))) for k, v in items]
    _exchange(state, calls)
