from llmkit.cli import main

raise SystemExit(main())
