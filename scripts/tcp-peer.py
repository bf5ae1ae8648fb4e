#!/usr/bin/python3
"""tcp-peer.py: the Linux side of the TCP interop tests and `denali-bench tcp` (run inside their namespace).

Every mode prints one result line starting with `ok` (exit 0) or `FAIL` (exit 1). Byte streams are either random
(echo modes) or the tcp-bulk pattern: the byte at stream offset i is byte i mod 65528 of a table whose 64-bit
word k (little-endian) is k * 0x9E3779B97F4A7C15 mod 2^64, so either side can check the other's bytes at any offset.

  echo HOST PORT BYTES [CHUNK]          one connection: send BYTES random bytes, read the echo, compare
  concurrent HOST PORT CONNECTIONS BYTES  that many connections at once, each echoing its own BYTES
  half-close HOST PORT BYTES             send BYTES, shut down the write side, then read the whole echo to EOF
  refused HOST PORT                      connect must be refused (a RST), quickly
  send HOST PORT BYTES                   connect and send BYTES of the pattern, then close; prints seconds
  sink HOST PORT BYTES [RCVBUF PAUSE_AT PAUSE_S]
                                         connect and read until EOF; checks BYTES of the pattern; prints seconds.
                                         With RCVBUF (bytes, before connecting) and a pause of PAUSE_S seconds
                                         without reading once PAUSE_AT bytes came, our window closes for a while
  serve-sink PORT BYTES                  accept one connection, read until EOF, check the pattern
  serve-send PORT BYTES                  accept one connection, send BYTES of the pattern, close
  syn-flood HOST PORT COUNT SUBNET       COUNT SYNs from random addresses SUBNET.100-199 and ports (raw socket)
  flood-check HOST PORT COUNT SUBNET     an echo connection, then the SYN flood, then the same connection and a
                                         new one must still echo
  rst-check HOST PORT DEVICE             RFC 5961 against an echo server: forged in-window RST and SYN (not at the
                                         exact sequence number) must bring challenge ACKs and leave the connection
                                         working; a RST at exactly the next sequence number must end it (it then
                                         answers our data with a reset); then a new connection must echo. DEVICE:
                                         the interface to watch (raw socket)
  time-wait-reuse HOST PORT DEVICE QUIET_S
                                         against httpd (Connection: close, so it holds TIME-WAIT): a GET from
                                         one local port, then forged SYNs from that port with a sequence number
                                         below the old connection's: within QUIET_S seconds of its TIME-WAIT one
                                         must get the old connection's ACK (no SYN-ACK); after it one must get a
                                         SYN-ACK (the connection reopened); then a GET from the same port
  relay IF1 IF2 LOSS DELAY_MS REORDER SECONDS
                                         forwards every Ethernet frame between interfaces IF1 and IF2 (raw
                                         packet sockets) for SECONDS, like netem in both directions: drops a
                                         LOSS fraction of IPv4 frames (never ARP), delays the rest DELAY_MS,
                                         except a REORDER fraction of IPv4 frames sent at once (overtaking the
                                         delayed ones). For kernels without sch_netem.
"""
import os
import random
import selectors
import socket
import struct
import sys
import threading
import time

GOLDEN = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


PERIOD = 65528
TABLE = b"".join(struct.pack("<Q", (k * GOLDEN) & MASK) for k in range(PERIOD // 8))


def pattern(offset, count):
    """`count` bytes of the tcp-bulk pattern starting at stream offset `offset`."""
    start = offset % PERIOD
    return (TABLE[start:] + TABLE * (count // PERIOD + 1))[:count]


def done(ok, message):
    print(("ok " if ok else "FAIL ") + message, flush=True)
    sys.exit(0 if ok else 1)


def connect(host, port, timeout=120):
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def echo(host, port, total, chunk=65536):
    data = os.urandom(total)
    sock = connect(host, port)
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    sent, received = 0, bytearray()
    deadline = time.monotonic() + 120
    while len(received) < total and time.monotonic() < deadline:
        for key, events in sel.select(timeout=1):
            if events & selectors.EVENT_WRITE and sent < total:
                try:
                    sent += sock.send(data[sent:sent + chunk])
                except BlockingIOError:
                    pass
                if sent == total:
                    sel.modify(sock, selectors.EVENT_READ)
            if events & selectors.EVENT_READ:
                piece = sock.recv(262144)
                if not piece:
                    done(False, f"echo: EOF after {len(received)} of {total} bytes")
                received += piece
    sock.close()
    done(bytes(received) == data, f"echo: {len(received)} of {total} bytes came back" + ("" if bytes(received) == data else " (different)"))


def concurrent(host, port, connections, total):
    sel = selectors.DefaultSelector()
    state = {}
    for index in range(connections):
        sock = connect(host, port)
        sock.setblocking(False)
        payload = (f"connection {index:04d} " * (total // 16 + 1)).encode()[:total]
        state[sock] = [payload, 0, bytearray()]
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    deadline = time.monotonic() + 120
    finished = 0
    while finished < connections and time.monotonic() < deadline:
        for key, events in sel.select(timeout=1):
            sock = key.fileobj
            payload, sent, received = state[sock]
            if events & selectors.EVENT_WRITE and sent < len(payload):
                try:
                    state[sock][1] = sent = sent + sock.send(payload[sent:])
                except BlockingIOError:
                    pass
                if sent == len(payload):
                    sel.modify(sock, selectors.EVENT_READ)
            if events & selectors.EVENT_READ:
                piece = sock.recv(65536)
                if not piece:
                    done(False, f"concurrent: EOF after {len(received)} bytes")
                received += piece
                if len(received) >= len(payload):
                    sel.unregister(sock)
                    finished += 1
    good = sum(1 for payload, _, received in state.values() if bytes(received) == payload)
    for sock in state:
        sock.close()
    done(good == connections, f"concurrent: {good} of {connections} connections echoed {total} bytes intact")


def half_close(host, port, total):
    data = os.urandom(total)
    sock = connect(host, port)
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    sent, received, finished = 0, bytearray(), False
    deadline = time.monotonic() + 120
    while not finished and time.monotonic() < deadline:
        for key, events in sel.select(timeout=1):
            if events & selectors.EVENT_WRITE and sent < total:
                try:
                    sent += sock.send(data[sent:sent + 65536])
                except BlockingIOError:
                    pass
                if sent == total:
                    sock.shutdown(socket.SHUT_WR)  # our FIN; the peer still sends the rest of the echo
                    sel.modify(sock, selectors.EVENT_READ)
            if events & selectors.EVENT_READ:
                piece = sock.recv(262144)
                if not piece:
                    finished = True
                    break
                received += piece
    sock.close()
    done(finished and sent == total and bytes(received) == data,
         f"half-close: sent {sent} bytes and our FIN, {len(received)} of {total} bytes came back, then "
         + ("EOF" if finished else "no EOF"))


def refused(host, port):
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=10)
        sock.close()
        done(False, "refused: the connection was accepted")
    except ConnectionRefusedError:
        done(True, f"refused: connection refused in {time.monotonic() - start:.3f} s")
    except OSError as error:
        done(False, f"refused: {error}")


def send_pattern(sock, total):
    offset = 0
    while offset < total:
        piece = pattern(offset, min(65536, total - offset))
        sock.sendall(piece)
        offset += len(piece)


def sink_pattern(sock, total, pause_at=None, pause=0):
    offset, good = 0, True
    while True:
        if pause_at is not None and offset >= pause_at:
            time.sleep(pause)  # not reading: the kernel's buffer fills and the window goes to zero
            pause_at = None
        piece = sock.recv(262144)
        if not piece:
            break
        if good and piece != pattern(offset, len(piece)):
            good = False
        offset += len(piece)
    return offset, good and offset == total


def send(host, port, total):
    sock = connect(host, port)
    start = time.monotonic()
    send_pattern(sock, total)
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass
    elapsed = time.monotonic() - start
    sock.close()
    done(True, f"send: {total} bytes in {elapsed:.6f} s")


def sink(host, port, total, rcvbuf=None, pause_at=None, pause=0):
    if rcvbuf:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(120)
        sock.connect((host, port))
    else:
        sock = connect(host, port)
    start = time.monotonic()
    count, good = sink_pattern(sock, total, pause_at, pause)
    elapsed = time.monotonic() - start
    sock.close()
    done(good, f"sink: {count} of {total} bytes in {elapsed:.6f} s" + ("" if good else " (wrong bytes or count)"))


def serve(port, total, sending):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(1)
    listener.settimeout(60)
    print("listening", flush=True)
    sock, peer = listener.accept()
    sock.settimeout(60)
    start = time.monotonic()
    if sending:
        send_pattern(sock, total)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
        done(True, f"serve-send: {total} bytes to {peer[0]} in {time.monotonic() - start:.6f} s")
    count, good = sink_pattern(sock, total)
    done(good, f"serve-sink: {count} of {total} bytes from {peer[0]} in {time.monotonic() - start:.6f} s"
         + ("" if good else " (wrong bytes or count)"))


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def send_syns(host, port, count, subnet):
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    destination = socket.inet_aton(host)
    for _ in range(count):
        source = socket.inet_aton(f"{subnet}.{random.randint(100, 199)}")
        source_port = random.randint(1024, 65535)
        tcp = struct.pack("!HHIIBBHHH", source_port, port, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = source + destination + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0, 64, 6, 0, source, destination)
        sock.sendto(ip + tcp, (host, 0))
    sock.close()


def syn_flood(host, port, count, subnet):
    send_syns(host, port, count, subnet)
    done(True, f"syn-flood: sent {count} SYNs")


def echo_once(sock, size):
    data = os.urandom(size)
    sock.sendall(data)
    received = bytearray()
    while len(received) < size:
        piece = sock.recv(65536)
        if not piece:
            break
        received += piece
    return bytes(received) == data


def flood_check(host, port, count, subnet):
    established = connect(host, port)
    before = echo_once(established, 100)

    def flood():
        # Bursts of 30 every 10 ms: faster than the guest can answer, slow enough that the switch's queues let
        # many of them through to it.
        for _ in range(count // 30):
            send_syns(host, port, 30, subnet)
            time.sleep(0.01)

    start = time.monotonic()
    flooder = threading.Thread(target=flood)
    flooder.start()
    during = [echo_once(established, 1000) for _ in range(5)]
    flooder.join()
    flood_seconds = time.monotonic() - start
    fresh = connect(host, port)
    after = echo_once(fresh, 1000)
    fresh.close()
    established.close()
    ok = before and all(during) and after
    done(ok, f"flood-check: {count} SYNs in {flood_seconds:.3f} s; the established connection echoed before {before}, "
         f"during the flood {sum(during)} of 5; a new connection afterwards echoed {after}")


def forge(source, destination, source_port, destination_port, sequence, acknowledgment, flags):
    """Sends one TCP segment with these fields from `source` (an address of ours) through a raw socket."""
    tcp = struct.pack("!HHIIBBHHH", source_port, destination_port, sequence & 0xFFFFFFFF, acknowledgment & 0xFFFFFFFF,
                      5 << 4, flags, 65535, 0, 0)
    src, dst = socket.inet_aton(source), socket.inet_aton(destination)
    tcp = tcp[:16] + struct.pack("!H", checksum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.sendto(ip + tcp, (destination, 0))
    raw.close()


def segments_from(sniffer, host, port, local_port, seconds):
    """(flags, seq, ack, payload length) of every segment HOST:PORT -> our LOCAL_PORT seen in `seconds`."""
    found, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            frame = sniffer.recv(65536)
        except BlockingIOError:
            time.sleep(0.005)
            continue
        if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
            continue
        header = (frame[14] & 0x0F) * 4
        total = struct.unpack("!H", frame[16:18])[0]
        tcp = frame[14 + header:]
        sport, dport, seq, ack, offset, flags = struct.unpack("!HHIIBB", tcp[:14])
        if socket.inet_ntoa(frame[26:30]) == host and sport == port and dport == local_port:
            found.append((flags, seq, ack, total - header - (offset >> 4) * 4))
    return found


def rst_check(host, port, device):
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sniffer.bind((device, 0))
    sniffer.setblocking(False)
    sock = connect(host, port)
    local_address, local_port = sock.getsockname()
    ok_before = echo_once(sock, 100)
    segments = segments_from(sniffer, host, port, local_port, 0.5)
    if not segments:
        done(False, "rst-check: saw no segment from the server")
    _, server_next, our_next, _ = segments[-1]
    server_next = (server_next + segments[-1][3]) & 0xFFFFFFFF  # its SND.NXT; its ack field is our next sequence
    checks = []
    # An in-window RST that is not exactly at RCV.NXT: a challenge ACK, and the connection lives on.
    segments_from(sniffer, host, port, local_port, 0.05)  # drain
    forge(local_address, host, local_port, port, our_next + 1000, 0, 0x04)
    answer = segments_from(sniffer, host, port, local_port, 1.0)
    checks.append(("in-window RST brought a challenge ACK", any(f & 0x10 and a == our_next for f, _, a, _ in answer)))
    checks.append(("the connection survived the RST", echo_once(sock, 100)))
    our_next = (our_next + 100) & 0xFFFFFFFF
    server_next = (server_next + 100) & 0xFFFFFFFF
    # A SYN on the established connection: a challenge ACK, never a reset, and the connection lives on.
    segments_from(sniffer, host, port, local_port, 0.05)
    forge(local_address, host, local_port, port, our_next + 5000, 0, 0x02)
    answer = segments_from(sniffer, host, port, local_port, 1.0)
    checks.append(("SYN brought a challenge ACK", any(f & 0x10 and not f & 0x04 for f, _, _, _ in answer)))
    checks.append(("the connection survived the SYN", echo_once(sock, 100)))
    our_next = (our_next + 100) & 0xFFFFFFFF
    # A RST exactly at RCV.NXT: the connection is gone; our next data gets a reset back.
    forge(local_address, host, local_port, port, our_next, 0, 0x04)
    time.sleep(0.5)
    try:
        sock.sendall(b"after the reset")
        reply = sock.recv(100)
        checks.append(("the exact RST ended the connection", False))
    except (ConnectionResetError, BrokenPipeError):
        checks.append(("the exact RST ended the connection", True))
    except socket.timeout:
        checks.append(("the exact RST ended the connection", False))
    fresh = connect(host, port)  # the server still serves new connections
    checks.append(("a new connection echoed", echo_once(fresh, 100)))
    fresh.close()
    failed = [name for name, ok in checks if not ok]
    done(ok_before and not failed, "rst-check: " + ("all checks passed" if not failed else "failed: " + "; ".join(failed)))


def get_from(host, port, local_port):
    """`GET /` with `Connection: close` from LOCAL_PORT: the whole reply (the server closes first), our address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", local_port))
    sock.settimeout(60)
    sock.connect((host, port))
    address = sock.getsockname()[0]
    sock.sendall(b"GET / HTTP/1.1\r\nHost: guest\r\nConnection: close\r\n\r\n")
    reply = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    sock.close()
    return reply, address


def time_wait_reuse(host, port, device, quiet):
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sniffer.bind((device, 0))
    sniffer.setblocking(False)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("", 0))
    local_port = probe.getsockname()[1]
    probe.close()
    first, source = get_from(host, port, local_port)
    if not first.startswith(b"HTTP/1.1 200"):
        done(False, f"time-wait-reuse: the first GET got {first[:40]!r}")
    # Our SYN's sequence number (from the SYN-ACK), and the moment the server took our FIN (its ACK of it).
    isn, since, deadline = None, None, time.monotonic() + 20
    while since is None and time.monotonic() < deadline:
        for flags, _, ack, _ in segments_from(sniffer, host, port, local_port, 0.1):
            if flags & 0x12 == 0x12:
                isn = (ack - 1) & 0xFFFFFFFF
            elif isn is not None and flags & 0x10 and not flags & 0x01 and ack != (isn + 1) & 0xFFFFFFFF:
                since = time.monotonic()  # an ACK beyond our request: of our FIN (it sends none after its own)
    if isn is None or since is None:
        done(False, "time-wait-reuse: did not see the handshake and the end of the first connection")
    checks = []

    def syn_answers(sequence):
        segments_from(sniffer, host, port, local_port, 0.01)  # drain
        forge(source, host, local_port, port, sequence, 0, 0x02)
        return segments_from(sniffer, host, port, local_port, 1.0)

    # Within the quiet time: the old connection's ACK, not a SYN-ACK (RFC 9293 3.6.1: not beyond its sequence space).
    old = (isn - 100000) & 0xFFFFFFFF
    answer = syn_answers(old)
    checks.append(("within the quiet time an old SYN got the TIME-WAIT ACK and no SYN-ACK",
                   any(f & 0x10 and not f & 0x02 for f, _, _, _ in answer) and not any(f & 0x02 for f, _, _, _ in answer)))
    # After it: the same old sequence number reopens the connection.
    reopened = False
    for attempt in range(10):
        wait = since + quiet + 0.2 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        sequence = (old - 1000 * (attempt + 1)) & 0xFFFFFFFF
        answer = syn_answers(sequence)
        if any(f & 0x12 == 0x12 and a == (sequence + 1) & 0xFFFFFFFF for f, _, a, _ in answer):
            reopened = True
            break
    checks.append(("after the quiet time the old SYN got a SYN-ACK", reopened))
    time.sleep(0.2)  # our kernel resets that SYN-ACK (no socket), which ends the half-open connection
    second, _ = get_from(host, port, local_port)
    checks.append(("a GET from the same port was answered", second.startswith(b"HTTP/1.1 200")))
    failed = [name for name, ok in checks if not ok]
    done(not failed, "time-wait-reuse: " + ("all checks passed" if not failed else "failed: " + "; ".join(failed)))


def relay(first, second, loss, delay, reorder, seconds):
    sockets = {}
    for name in (first, second):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        sock.bind((name, 0))
        sock.setblocking(False)
        sockets[name] = sock
    other = {sockets[first]: sockets[second], sockets[second]: sockets[first]}
    queue = []  # (due, sequence, socket, frame)
    counts = {"forwarded": 0, "dropped": 0, "reordered": 0}
    sequence = 0
    end = time.monotonic() + seconds
    print("relaying", flush=True)
    sel = selectors.DefaultSelector()
    for sock in sockets.values():
        sel.register(sock, selectors.EVENT_READ)
    while time.monotonic() < end:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, target, frame = queue.pop(0)
            try:
                target.send(frame)
                counts["forwarded"] += 1
            except OSError:
                end = 0
        timeout = max(0.0, min(queue[0][0] - now if queue else 0.05, end - now))
        for key, _ in sel.select(timeout=timeout):
            while True:
                try:
                    frame, address = key.fileobj.recvfrom(65536)
                except BlockingIOError:
                    break
                except OSError:  # an interface went away (the daemon's TAP ends with it)
                    end = 0
                    break
                if address[2] == socket.PACKET_OUTGOING:
                    continue  # our own sends, looped back
                # Only IPv4 is impaired: a lost ARP exchange would make the host's connect fail with "no route to
                # host" (three requests lost, or their replies), which tests nothing about TCP.
                roll = random.random() if frame[12:14] == b"\x08\x00" else 1.0
                if roll < loss:
                    counts["dropped"] += 1
                elif roll < loss + reorder:
                    try:
                        other[key.fileobj].send(frame)
                        counts["forwarded"] += 1
                        counts["reordered"] += 1
                    except OSError:
                        end = 0
                else:
                    sequence += 1
                    queue.append((time.monotonic() + delay / 1000, sequence, other[key.fileobj], frame))
    done(True, f"relay: forwarded {counts['forwarded']}, dropped {counts['dropped']}, sent early {counts['reordered']}")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "echo":
        echo(args[0], int(args[1]), int(args[2]), int(args[3]) if len(args) > 3 else 65536)
    elif mode == "concurrent":
        concurrent(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif mode == "half-close":
        half_close(args[0], int(args[1]), int(args[2]))
    elif mode == "refused":
        refused(args[0], int(args[1]))
    elif mode == "send":
        send(args[0], int(args[1]), int(args[2]))
    elif mode == "sink":
        if len(args) > 3:
            sink(args[0], int(args[1]), int(args[2]), int(args[3]), int(args[4]), float(args[5]))
        else:
            sink(args[0], int(args[1]), int(args[2]))
    elif mode == "serve-sink":
        serve(int(args[0]), int(args[1]), False)
    elif mode == "serve-send":
        serve(int(args[0]), int(args[1]), True)
    elif mode == "rst-check":
        rst_check(args[0], int(args[1]), args[2])
    elif mode == "time-wait-reuse":
        time_wait_reuse(args[0], int(args[1]), args[2], float(args[3]))
    elif mode == "relay":
        relay(args[0], args[1], float(args[2]), float(args[3]), float(args[4]), float(args[5]))
    elif mode == "syn-flood":
        syn_flood(args[0], int(args[1]), int(args[2]), args[3])
    elif mode == "flood-check":
        flood_check(args[0], int(args[1]), int(args[2]), args[3])
    else:
        done(False, f"unknown mode {mode}")


if __name__ == "__main__":
    main()
