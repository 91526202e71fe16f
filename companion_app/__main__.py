from companion_app.cli import main

raise SystemExit(main())
