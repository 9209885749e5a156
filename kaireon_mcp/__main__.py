from kaireon_mcp.cli import main

raise SystemExit(main())
