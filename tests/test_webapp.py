from assistant.answering import Answer, Citation
from assistant.webapp import build_app, chat_reply, render_answer
from tests.conftest import SEED_QUESTION, SEED_SENTENCE


def test_chat_reply_answers_seed_question_with_source_card(seed_assistant):
    html = chat_reply(seed_assistant, SEED_QUESTION, [])
    assert SEED_SENTENCE in html and "[1]" in html and "source-card" in html and "<mark>" in html
    assert build_app(seed_assistant) is not None


def test_chat_reply_bad_question_shows_message(seed_assistant):
    assert "the question is empty" in chat_reply(seed_assistant, "   ", [])


def test_render_answer_escapes_untrusted_article_text():
    passage = 'Hi <script>alert(1)</script> <img src=x onerror="alert(2)"> [x](javascript:alert(3))'
    answer = Answer("q", "Hi <script>alert(1)</script> [1]", False,
                    [Citation(1, "<b>T</b>", "S<i>", None, "javascript:alert(4)", passage, (0, 10))])
    html = render_answer(answer)
    assert "<script>" not in html and "<img" not in html and "<b>T</b>" not in html
    assert "javascript:" not in html.split("source-passage")[0]  # no javascript: link rendered
    assert "&lt;script&gt;" in html
