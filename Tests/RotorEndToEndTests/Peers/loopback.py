"""What rotor's HTTP test peers share: a threaded server on a free loopback port, the
port written (atomically) to a file for the test to read, quiet about clients that went
away, and running until the test closes the peer's stdin."""
import http.server
import os
import signal
import sys
import threading

# Started from a test's thread, a peer may inherit a mask that blocks every signal (the
# dispatch pool's): then the test's SIGTERM would never end it.
signal.pthread_sigmask(signal.SIG_SETMASK, [])


class Server(http.server.ThreadingHTTPServer):
    # The default backlog of 5 drops connections when rotor checks many consumers at once.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that went away (a timeout, or rotor killed by a crash test) is expected.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def serve(handler, port_file):
    server = Server(("127.0.0.1", 0), handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
