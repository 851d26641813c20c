# Connect to ADDRESS PORT with a 5 s deadline and print how it ended:
# "connected", or the error's name (ConnectionRefusedError, TimeoutError, ...).
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET); s.settimeout(5)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
except OSError as e:
    print(type(e).__name__)
