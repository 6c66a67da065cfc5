"""The Gradio web chat: a thin layer over ``Assistant`` (no retrieval or prompt logic here).

Article text is untrusted: everything taken from an article is HTML-escaped before it is
put in the page, and the chatbot sanitises HTML on top of that.
"""

from __future__ import annotations

import html

from .answering import Answer
from .api import Assistant
from .config import Settings
from .errors import AssistantError

SEED_QUESTION = "what did the Speakers discuss about AI legislation?"


def render_sources(answer: Answer) -> str:
    """HTML source cards for the cited passages, the cited sentence highlighted (escaped)."""
    if not answer.citations:
        if not answer.passages:
            return ""
        items = "".join(f"<li>{html.escape(c.title)} — {html.escape(c.source)}, "
                        f"{html.escape(c.date or 'undated')}</li>" for c in answer.passages[:3])
        return f"<div class='sources'><b>Closest passages</b><ul>{items}</ul></div>"
    cards = []
    for c in answer.citations:
        a, b = c.span
        passage = (html.escape(c.passage[:a]) + "<mark>" + html.escape(c.passage[a:b]) + "</mark>"
                   + html.escape(c.passage[b:]))
        link = ""
        if c.url and c.url.startswith(("http://", "https://")):
            link = f" · <a href=\"{html.escape(c.url, quote=True)}\" target=\"_blank\" rel=\"noopener noreferrer\">link</a>"
        cards.append(
            f"<div class='source-card' data-n='{c.n}'><div class='source-head'><b>[{c.n}]</b> "
            f"{html.escape(c.title)} — {html.escape(c.source)}, {html.escape(c.date or 'undated')}"
            f"{link}</div><div class='source-passage'>{passage}</div></div>"
        )
    return "<div class='sources'>" + "".join(cards) + "</div>"


def render_answer(answer: Answer) -> str:
    """The answer text (escaped), then its source cards."""
    return html.escape(answer.answer) + "\n\n" + render_sources(answer)


def chat_reply(assistant: Assistant, message: str, history: list | None) -> str:
    """The chat's reply to one message: the rendered answer, or the error in words."""
    try:
        answer = assistant.ask(message, history)
    except AssistantError as exc:
        return f"⚠️ {html.escape(str(exc))}"
    return render_answer(answer)


def build_app(assistant: Assistant):
    import gradio as gr

    def respond(message: str, history: list):
        return chat_reply(assistant, message, history)

    def ask_api(question: str, history: list | None = None) -> dict:
        try:
            return assistant.ask(question, history or None).to_dict()
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc

    with gr.Blocks(title="News archive assistant") as demo:
        gr.Markdown("## Ask the news archive\nEvery answer sentence cites the passage it came from.")
        gr.ChatInterface(respond, examples=[SEED_QUESTION], api_name="chat",
                         chatbot=gr.Chatbot(height=520, sanitize_html=True, label="Assistant"))
        api_q = gr.Textbox(visible=False)
        api_h = gr.JSON(visible=False)
        api_out = gr.JSON(visible=False)
        api_btn = gr.Button(visible=False)
        api_btn.click(ask_api, [api_q, api_h], api_out, api_name="ask")
    return demo


def serve(settings: Settings | None = None, build: bool = True, block: bool = True):
    """Build or update the index, then serve the chat on settings.host:settings.port."""
    settings = settings or Settings.from_env()
    assistant = Assistant(settings)
    if build:
        report = assistant.build_index()
        print(f"index: {report.articles} articles, {report.chunks} chunks "
              f"({report.added} added, {report.updated} updated, {report.removed} removed)")
    demo = build_app(assistant)
    demo.queue(default_concurrency_limit=settings.concurrency)
    auth = tuple(settings.auth.split(":", 1)) if settings.auth else None
    demo.launch(server_name=settings.host, server_port=settings.port, share=False,
                auth=auth, prevent_thread_lock=not block, quiet=not block)
    return demo
