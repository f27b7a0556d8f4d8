"""What a monitor and its attach clients say to each other on the attach socket.

The socket is ``SOCK_SEQPACKET``, so every message arrives whole: its first byte says what it is,
the rest is the payload. Stream numbers are docker's (0 stdin, 1 stdout, 2 stderr).

client -> monitor:
  HELLO      first message: which of ``HELLO_*`` the client wants (letters, in any order)
  STDIN      bytes for the container's stdin (only from the client that holds stdin)
  STDIN_EOF  the client's stdin ended (the container's stdin is closed if it said HELLO_CLOSE_STDIN)
  RESIZE     b"ROWS COLS": the terminal's new size
  SIGNAL     b"N": send signal N to the container's init (docker's --sig-proxy, for non-tty runs)
monitor -> client:
  HELLO      the answer to HELLO: from now on the client gets every byte of output (a client
             that waits for it before the runtime's start misses nothing)
  STDOUT, STDERR  the container's output, as it was written
  EXIT       b"CODE" once the container has exited and its output is drained; then the monitor
             closes the connection
"""

STDIN = b"\x00"
STDOUT = b"\x01"
STDERR = b"\x02"
HELLO = b"h"
STDIN_EOF = b"z"
RESIZE = b"w"
SIGNAL = b"k"
EXIT = b"x"

HELLO_STDIN = b"i"
HELLO_CLOSE_STDIN = b"c"
HELLO_STDOUT = b"o"
HELLO_STDERR = b"e"

MAX_PACKET = 65536 + 1  # one kind byte and at most 64 KiB of data

SOCKET_NAME = "attach"
