#!/usr/bin/env python3
"""Test peers for 85_monitor.sh, on loopback.

    monitor_peer.py silent PORT
        accepts TCP connections and never says a word (a stalled host)
    monitor_peer.py smtp PORT CERT KEY
        an SMTP server that offers STARTTLS (RFC 3207) and then does TLS
    monitor_peer.py postgres PORT CERT KEY
        answers a PostgreSQL SSLRequest with 'S' and then does TLS

Each connection is served in its own thread; the process runs until it
is stopped (SIGTERM), so the test's stop_bg sees it exit by that signal.
"""
import socket
import ssl
import sys
import threading
import time


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s


def tls_wrap(conn, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    try:
        t = ctx.wrap_socket(conn, server_side=True)
        t.recv(1)  # until the client goes away
        t.close()
    except (OSError, ssl.SSLError):
        pass


def silent(conn):
    # Hold the connection open, say nothing; the client gives up.
    time.sleep(3600)
    conn.close()


def smtp(conn, cert, key):
    f = conn.makefile("rb")
    conn.sendall(b"220 mx.test ESMTP monitor_peer\r\n")
    while True:
        line = f.readline()
        if not line:
            return
        cmd = line.strip().upper()
        if cmd.startswith(b"EHLO"):
            conn.sendall(b"250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
        elif cmd == b"STARTTLS":
            conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
            # The client sends nothing more in plaintext: the buffered
            # reader holds no data, the socket goes straight to TLS.
            tls_wrap(conn, cert, key)
            return
        elif cmd == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"502 5.5.2 what?\r\n")


def postgres(conn, cert, key):
    req = b""
    while len(req) < 8:
        chunk = conn.recv(8 - len(req))
        if not chunk:
            return
        req += chunk
    if req != b"\x00\x00\x00\x08\x04\xd2\x16\x2f":
        conn.close()
        return
    conn.sendall(b"S")
    tls_wrap(conn, cert, key)


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    handler = {"silent": silent, "smtp": smtp, "postgres": postgres}[mode]
    extra = sys.argv[3:5]
    s = listen(port)
    print("listening on 127.0.0.1:%d (%s)" % (port, mode), flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=handler, args=(conn, *extra), daemon=True).start()


if __name__ == "__main__":
    main()
