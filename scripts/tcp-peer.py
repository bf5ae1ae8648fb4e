#!/usr/bin/python3
"""tcp-peer.py: the Linux side of the TCP interop tests and `denalid bench tcp` (run inside their namespace).

Every mode prints one result line starting with `ok` (exit 0) or `FAIL` (exit 1). Byte streams are either random
(echo modes) or the tcp-bulk pattern: the byte at stream offset i is byte i % 8 (little-endian) of the 64-bit
value (i // 8) * 0x9E3779B97F4A7C15 mod 2^64, so either side can check the other's bytes at any offset.

  echo HOST PORT BYTES [CHUNK]          one connection: send BYTES random bytes, read the echo, compare
  concurrent HOST PORT CONNECTIONS BYTES  that many connections at once, each echoing its own BYTES
  half-close HOST PORT BYTES             send BYTES, shut down the write side, then read the whole echo to EOF
  refused HOST PORT                      connect must be refused (a RST), quickly
  send HOST PORT BYTES                   connect and send BYTES of the pattern, then close; prints seconds
  sink HOST PORT BYTES                   connect and read until EOF; checks BYTES of the pattern; prints seconds
  serve-sink PORT BYTES                  accept one connection, read until EOF, check the pattern
  serve-send PORT BYTES                  accept one connection, send BYTES of the pattern, close
  syn-flood HOST PORT COUNT SUBNET       COUNT SYNs from random addresses SUBNET.100-199 and ports (raw socket)
"""
import os
import random
import selectors
import socket
import struct
import sys
import time

GOLDEN = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def pattern(offset, count):
    """`count` bytes of the tcp-bulk pattern starting at stream offset `offset`."""
    first = offset // 8
    last = (offset + count + 7) // 8
    words = b"".join(struct.pack("<Q", (k * GOLDEN) & MASK) for k in range(first, last))
    start = offset - first * 8
    return words[start:start + count]


def done(ok, message):
    print(("ok " if ok else "FAIL ") + message, flush=True)
    sys.exit(0 if ok else 1)


def connect(host, port, timeout=30):
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


def sink_pattern(sock, total):
    offset, good = 0, True
    while True:
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


def sink(host, port, total):
    sock = connect(host, port)
    start = time.monotonic()
    count, good = sink_pattern(sock, total)
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


def syn_flood(host, port, count, subnet):
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
    done(True, f"syn-flood: sent {count} SYNs")


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
        sink(args[0], int(args[1]), int(args[2]))
    elif mode == "serve-sink":
        serve(int(args[0]), int(args[1]), False)
    elif mode == "serve-send":
        serve(int(args[0]), int(args[1]), True)
    elif mode == "syn-flood":
        syn_flood(args[0], int(args[1]), int(args[2]), args[3])
    else:
        done(False, f"unknown mode {mode}")


if __name__ == "__main__":
    main()
