# SPDX-License-Identifier: MIT
"""A small CTF 1.8 trace writer for the `ctflive stream` tests: TSDL text
metadata with a `monotonic` clock, streams of little-endian packets with a
full packet context (timestamp_begin/_end, content/packet size,
events_discarded, packet_seq_num) and events `ctflive_test:tick` (id 0) or
any event class declared with extra_event()."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

TRACE_UUID = uuid.UUID("6d0c6c83-7f1b-4f5e-9d1e-0123456789ab")

METADATA = """/* CTF 1.8 */

typealias integer {{ size = 8; align = 8; signed = false; }} := uint8_t;
typealias integer {{ size = 32; align = 8; signed = false; }} := uint32_t;
typealias integer {{ size = 64; align = 8; signed = false; }} := uint64_t;

trace {{
	major = 1;
	minor = 8;
	uuid = "{uuid}";
	byte_order = le;
	packet.header := struct {{
		uint32_t magic;
		uint8_t  uuid[16];
		uint32_t stream_id;
		uint64_t stream_instance_id;
	}};
}};

env {{
	hostname = "{hostname}";
	domain = "ust";
}};

clock {{
	name = "monotonic";
	uuid = "{uuid}";
	freq = 1000000000;
	offset = 0;
}};

typealias integer {{ size = 64; align = 8; signed = false; map = clock.monotonic.value; }} := uint64_clock_t;

stream {{
	id = 0;
	packet.context := struct {{
		uint64_clock_t timestamp_begin;
		uint64_clock_t timestamp_end;
		uint64_t content_size;
		uint64_t packet_size;
		uint64_t packet_seq_num;
		uint64_t events_discarded;
	}};
	event.header := struct {{
		uint32_t id;
		uint64_clock_t timestamp;
	}};
}};

event {{
	name = "ctflive_test:tick";
	id = 0;
	stream_id = 0;
	fields := struct {{
		uint64_t index;
	}};
}};
"""

HEADER = 4 + 16 + 4 + 8
CONTEXT = 6 * 8
EVENT = 4 + 8 + 8


def metadata(hostname: str = "streamhost") -> bytes:
    return METADATA.format(uuid=str(TRACE_UUID), hostname=hostname).encode()


def extra_event(event_id: int, name: str) -> bytes:
    """TSDL declaring one more event class of stream 0 (appended later)."""
    return (f'\nevent {{\n\tname = "{name}";\n\tid = {event_id};\n\tstream_id = 0;\n'
            f'\tfields := struct {{\n\t\tuint64_t index;\n\t}};\n}};\n').encode()


def packet(instance: int, seq: int, events: list[tuple[int, int, int]],
           packet_bytes: int = 4096, discarded: int = 0, ts_end: int | None = None,
           size_field: int | None = None) -> bytes:
    """One packet of stream `instance`: events are (event id, timestamp ns,
    index). packet_bytes is padded to; size_field overrides the packet_size
    field (a packet that lies about its size)."""
    content = HEADER + CONTEXT + EVENT * len(events)
    assert content <= packet_bytes
    tb = events[0][1] if events else (ts_end or 0)
    te = ts_end if ts_end is not None else (events[-1][1] if events else tb)
    body = bytearray()
    body += struct.pack("<I16sIQ", 0xC1FC1FC1, TRACE_UUID.bytes, 0, instance)
    psize = size_field if size_field is not None else packet_bytes * 8
    body += struct.pack("<QQQQQQ", tb, te, content * 8, psize, seq, discarded)
    for eid, ts, idx in events:
        body += struct.pack("<IQQ", eid, ts, idx)
    body += bytes(packet_bytes - content)
    return bytes(body)


def write_trace(root: Path, streams: int, packets: int, per_packet: int,
                ts0: int = 1_000_000_000, step: int = 1000,
                hostname: str = "streamhost") -> int:
    """A recorded trace: `streams` files stream_N of `packets` packets of
    `per_packet` events each, interleaved in time. Returns the event count."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "metadata").write_bytes(metadata(hostname))
    n = 0
    for s in range(streams):
        with open(root / f"stream_{s}", "wb") as f:
            for p in range(packets):
                evs = []
                for e in range(per_packet):
                    i = (p * per_packet + e) * streams + s
                    evs.append((0, ts0 + i * step, i))
                f.write(packet(s, p, evs))
                n += len(evs)
    return n
