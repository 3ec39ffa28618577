"""Markdown to HTML for the subset the sweep report writes, so that report.md and report.html say the same.

No dependency: the report must rebuild anywhere the zoo runs. The subset:

    # Heading ... ######      ids as GitHub makes them ("1. Vanishing" -> "1-vanishing"), so the same
                              [links](#1-vanishing) work on GitHub and in report.html
    paragraphs                *emphasis*, **strong**, `code`, [text](url), ![alt](image.png), \\* escapes
    - item / 1. item          lists; an item's lines indented by two or more spaces continue it, and an
                              indented list inside it nests
    > text                    a block quote (the takeaways)
    | a | b |                 pipe tables; `---:` in the separator row right-aligns a column
    ```text ... ```           fenced code, shown as written
    ![alt](x.png)             alone in a paragraph: a figure; an all-italic paragraph right after it
    *caption*                 becomes its caption

    html, headings = render(markdown_text, image_source=lambda src: "data:image/png;base64,...")
"""

from __future__ import annotations

import html
import re
import unicodedata

_ESCAPABLE = "\\`*_{}[]()#+-.!|<>"
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_FENCE = re.compile(r"^\s*```\s*([\w+-]*)\s*$")
_IMAGE_ONLY = re.compile(r"^!\[([^\]]*)\]\(([^)\s]+)\)$")
_ITALIC_ONLY = re.compile(r"^\*(?!\*)(.+)(?<!\*)\*$", re.S)


def slug(text: str, seen: dict | None = None) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens; a repeat
    gets -1, -2 ... (`seen` counts them)."""
    plain = re.sub(r"<[^>]+>", "", _strip_inline(text)).lower()
    kept = "".join(ch for ch in plain if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    base = kept.replace(" ", "-")
    if seen is None:
        return base
    n = seen.get(base, 0)
    seen[base] = n + 1
    return base if n == 0 else f"{base}-{n}"


def _strip_inline(text: str) -> str:
    """The words of inline Markdown without its marks (for anchors and plain-text titles)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\\([" + re.escape(_ESCAPABLE) + "])", r"\1", text)
    return text.replace("`", "").replace("**", "").replace("*", "")


def inline(text: str, image_source=None) -> str:
    """One line or paragraph of inline Markdown as HTML (everything else escaped)."""
    saved: list[str] = []

    def keep(fragment: str) -> str:
        saved.append(fragment)
        return f"\x00{len(saved) - 1}\x00"

    text = re.sub(r"`([^`]+)`", lambda m: keep(f"<code>{html.escape(m.group(1))}</code>"), text)
    text = re.sub(r"\\([" + re.escape(_ESCAPABLE) + "])", lambda m: keep(html.escape(m.group(1))), text)

    def image(m):
        src = m.group(2)
        src = image_source(src) if image_source else src
        return keep(f'<img alt="{html.escape(m.group(1))}" src="{html.escape(src, quote=True)}">')

    text = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", image, text)

    def link(m):
        href = m.group(2)
        if re.match(r"^\s*(javascript|data|vbscript):", href, re.I):
            href = "#"
        return keep(f'<a href="{html.escape(href, quote=True)}">') + m.group(1) + keep("</a>")

    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", link, text)
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", r"<strong>\1</strong>", text, flags=re.S)
    text = re.sub(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])", r"<em>\1</em>", text, flags=re.S)
    while "\x00" in text:
        text = re.sub(r"\x00(\d+)\x00", lambda m: saved[int(m.group(1))], text)
    return text


def render(text: str, image_source=None) -> tuple[str, list[tuple[int, str, str]]]:
    """HTML of a Markdown document and its headings as (level, id, title text)."""
    headings: list[tuple[int, str, str]] = []
    seen: dict = {}
    body = _blocks(text.split("\n"), image_source, headings, seen)
    return body, headings


def _blocks(lines, image_source, headings, seen) -> str:
    out: list[str] = []
    i, n = 0, len(lines)
    para: list[str] = []

    def flush():
        if para:
            out.append(_paragraph(" ".join(s.strip() for s in para), image_source))
            para.clear()

    while i < n:
        line = lines[i]
        if not line.strip():
            flush()
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            flush()
            j = i + 1
            while j < n and not _FENCE.match(lines[j]):
                j += 1
            lang = f' class="language-{fence.group(1)}"' if fence.group(1) else ""
            out.append(f"<pre><code{lang}>{html.escape(chr(10).join(lines[i + 1:j]))}</code></pre>")
            i = j + 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            level, title = len(heading.group(1)), heading.group(2)
            anchor = slug(title, seen)
            headings.append((level, anchor, _strip_inline(title)))
            out.append(f'<h{level} id="{html.escape(anchor)}">{inline(title, image_source)}</h{level}>')
            i += 1
            continue
        if line.lstrip().startswith("|") and i + 1 < n and _TABLE_SEPARATOR.match(lines[i + 1]):
            flush()
            j = i + 2
            while j < n and lines[j].lstrip().startswith("|"):
                j += 1
            out.append(_table(lines[i], lines[i + 1], lines[i + 2:j], image_source))
            i = j
            continue
        if line.startswith(">"):
            flush()
            j = i
            quoted = []
            while j < n and lines[j].startswith(">"):
                quoted.append(lines[j][1:][1:] if lines[j][1:].startswith(" ") else lines[j][1:])
                j += 1
            out.append(f"<blockquote>{_blocks(quoted, image_source, headings, seen)}</blockquote>")
            i = j
            continue
        if _LIST_ITEM.match(line):  # a list may interrupt a paragraph
            flush()
            html_list, i = _list(lines, i, image_source, headings, seen)
            out.append(html_list)
            continue
        para.append(line)
        i += 1
    flush()
    return "\n".join(_figures(out))


def _paragraph(text, image_source) -> str:
    only = _IMAGE_ONLY.match(text)
    if only:
        return f"<figure>{inline(text, image_source)}</figure>"
    return f"<p>{inline(text, image_source)}</p>"


def _figures(blocks: list[str]) -> list[str]:
    """A figure followed by an all-italic paragraph takes it as its caption."""
    out: list[str] = []
    for block in blocks:
        if out and out[-1].startswith("<figure>") and "<figcaption>" not in out[-1] \
                and block.startswith("<p><em>") and block.endswith("</em></p>") and block.count("<em>") == 1:
            out[-1] = out[-1][: -len("</figure>")] + f"<figcaption>{block[len('<p><em>'):-len('</em></p>')]}" \
                "</figcaption></figure>"
            continue
        out.append(block)
    return out


def _list(lines, i, image_source, headings, seen) -> tuple[str, int]:
    first = _LIST_ITEM.match(lines[i])
    indent = len(first.group(1))
    ordered = first.group(2)[0].isdigit()
    items: list[list[str]] = []
    n = len(lines)
    while i < n:
        line = lines[i]
        m = _LIST_ITEM.match(line)
        if m and len(m.group(1)) == indent and m.group(2)[0].isdigit() == ordered:
            items.append([m.group(3)])
            i += 1
            continue
        if not line.strip():
            # a blank line ends the list unless the next line continues it (indented or a sibling item)
            nxt = lines[i + 1] if i + 1 < n else ""
            mm = _LIST_ITEM.match(nxt)
            if nxt.startswith(" " * (indent + 2)) or (mm and len(mm.group(1)) == indent):
                items[-1].append("")
                i += 1
                continue
            break
        if line.startswith(" " * (indent + 2)) or (m and len(m.group(1)) > indent):
            items[-1].append(line[indent + 2:] if line.startswith(" " * (indent + 2)) else line.strip())
            i += 1
            continue
        if m:  # a sibling of another kind or a shallower item ends this list
            break
        items[-1].append(line.strip())  # a lazy continuation line
        i += 1
    tag = "ol" if ordered else "ul"
    parts = []
    for item in items:
        if len(item) == 1 or not any(_LIST_ITEM.match(x) or not x.strip() for x in item[1:]):
            parts.append(f"<li>{inline(' '.join(s.strip() for s in item), image_source)}</li>")
        else:
            inner = _blocks(item, image_source, headings, seen)
            if inner.startswith("<p>") and inner.count("<p>") == 1:  # a tight item with a nested list
                inner = inner[3:].replace("</p>", "", 1)
            parts.append(f"<li>{inner}</li>")
    return f"<{tag}>" + "".join(parts) + f"</{tag}>", i


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)]


def _table(head, separator, rows, image_source) -> str:
    columns = _cells(head)
    aligns = []
    for spec in _cells(separator):
        right, left = spec.endswith(":"), spec.startswith(":")
        aligns.append(' class="num"' if right and not left else ' class="centre"' if right and left else "")
    aligns += [""] * (len(columns) - len(aligns))

    def row_html(cells, tag):
        cells = cells + [""] * (len(columns) - len(cells))
        return "<tr>" + "".join(f"<{tag}{aligns[k]}>{inline(c, image_source)}</{tag}>"
                                for k, c in enumerate(cells[: len(columns)])) + "</tr>"

    body = "".join(row_html(_cells(r), "td") for r in rows)
    return (f'<div class="table-wrap"><table><thead>{row_html(columns, "th")}</thead>'
            f"<tbody>{body}</tbody></table></div>")
