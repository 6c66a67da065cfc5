"""The web chat: `python app.py` (same as `assistant serve`). The UI lives in assistant/webapp.py
so the installed `assistant serve` command can start it too."""

from assistant.webapp import serve

if __name__ == "__main__":
    serve()
