"""The web chat: `python app.py [--host H] [--port N] [--no-index]`, the same app as
`assistant serve`. The UI lives in assistant/webapp.py so the installed command can start it."""

import sys

from assistant.cli import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]], prog_name="app.py")
