import sys

from kaireon_mcp.server.front import start_front

start_front(sys.argv[1:])  # before any heavy import: `stdio` answers its handshake from the first ms

from kaireon_mcp.cli import main  # noqa: E402

raise SystemExit(main())
