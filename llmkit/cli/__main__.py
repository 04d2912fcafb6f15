from llmkit.cli.commands import main

raise SystemExit(main())
