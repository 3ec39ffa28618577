"""training.sweep.markdown: the Markdown the report writes comes out as HTML, not as literal marks."""

from training.sweep import markdown as md


def html(text, **kwargs):
    return md.render(text, **kwargs)[0]


def test_inline_marks_are_rendered_and_the_rest_escaped():
    out = md.inline("*Question:* does **this** work with `x <y>` and [a link](#here) & <b>?")
    assert out == ('<em>Question:</em> does <strong>this</strong> work with <code>x &lt;y&gt;</code> and '
                   '<a href="#here">a link</a> &amp; &lt;b&gt;?')
    assert "*" not in out


def test_underscores_and_spaced_stars_are_not_emphasis():
    assert md.inline("lstm [forget_bias_3] and 2 * 3 * 4") == "lstm [forget_bias_3] and 2 * 3 * 4"
    assert md.inline(r"a \*literal\* star") == "a *literal* star"
    assert md.inline("`a*b*c`") == "<code>a*b*c</code>"


def test_unsafe_links_are_neutralised():
    assert 'href="#"' in md.inline("[x](javascript:alert(1))")


def test_headings_get_github_anchors_and_are_listed():
    body, headings = md.render("# Report\n\n## 1. Vanishing gradients\n\n## Summary\n\n## Summary\n")
    assert '<h2 id="1-vanishing-gradients">1. Vanishing gradients</h2>' in body
    assert [h[1] for h in headings] == ["report", "1-vanishing-gradients", "summary", "summary-1"]


def test_lists_nest_and_number():
    out = html("- one\n  continued\n  - inner *a*\n- two\n\n1. first\n2. second\n")
    assert out.startswith("<ul><li>one continued\n<ul><li>inner <em>a</em></li></ul></li><li>two</li></ul>")
    assert "<ol><li>first</li><li>second</li></ol>" in out


def test_tables_align_numbers_and_keep_escaped_pipes():
    out = html("| Model | Accuracy |\n|---|---:|\n| a \\| b | 0.5 |\n| *c* | 1 |\n")
    assert '<th class="num">Accuracy</th>' in out
    assert "<td>a | b</td>" in out and "<td><em>c</em></td>" in out
    assert out.startswith('<div class="table-wrap"><table>')


def test_image_paragraph_becomes_a_figure_with_its_caption():
    out = html("![alt text](fig.png)\n\n*What the figure shows.*\n", image_source=lambda s: "data:image/png;base64,AA")
    assert out == ('<figure><img alt="alt text" src="data:image/png;base64,AA">'
                   "<figcaption>What the figure shows.</figcaption></figure>")


def test_code_blocks_and_quotes():
    out = html("```text\n*not emphasis* <tag>\n```\n\n> **Takeaway.** short\n")
    assert "<pre><code class=\"language-text\">*not emphasis* &lt;tag&gt;</code></pre>" in out
    assert "<blockquote><p><strong>Takeaway.</strong> short</p></blockquote>" in out
