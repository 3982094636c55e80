#!/usr/bin/env python3
"""Listeners and probes for tests/real/network-policies.sh, run inside a pod's network namespace
with `nsenter -t PID -n` (or `ip netns exec`); the host's python, the pod's network.

  netprobe.py listen PORT...          answers every TCP connection on each port (every address,
                                      IPv4 and IPv6) with an HTTP 200 "np-ok" and closes; runs
                                      until killed
  netprobe.py connect IP:PORT...      one line per target: IP:PORT open|refused|timeout|error:..
                                      (a TCP connect, 2 s, all targets at once; IPv6 as
                                      fe80::1%eth0:PORT)
  netprobe.py dns SERVER NAME         exits 0 when SERVER answers NAME (A record, over UDP)
"""
import concurrent.futures
import random
import socket
import struct
import sys
import threading

REPLY = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\nnp-ok\n"


def answer(conn):
    try:
        conn.settimeout(2)
        try:
            conn.recv(4096)
        except OSError:
            pass
        conn.sendall(REPLY)
    except OSError:
        pass
    finally:
        conn.close()


def serve(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # IPv4 too, as ::ffff:a.b.c.d
    s.bind(("::", port))
    s.listen(64)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


def listen(ports):
    threads = [threading.Thread(target=serve, args=(int(p),), daemon=True) for p in ports]
    for t in threads:
        t.start()
    print("listening on " + " ".join(ports), flush=True)
    for t in threads:
        t.join()


def probe(target):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return "error:%s" % (e.strerror or e.errno)


def connect(targets):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(targets)) as pool:
        for target, state in zip(targets, pool.map(probe, targets)):
            print(target, state)


def dns(server, name):
    qid = random.randrange(65536)
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.sendto(query, (server, 53))
        reply, _ = s.recvfrom(512)
    except OSError as e:
        print("no answer from %s: %s" % (server, e))
        return 1
    rid, flags, _, ancount = struct.unpack(">HHHH", reply[:8])
    ok = rid == qid and flags & 0xF == 0 and ancount > 0
    print("%s answered %s: rcode %d, %d answers" % (server, name, flags & 0xF, ancount))
    return 0 if ok else 1


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "listen":
        listen(args)
    elif cmd == "connect":
        connect(args)
    elif cmd == "dns" and len(args) == 2:
        return dns(*args)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
