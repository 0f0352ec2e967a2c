"""The hf-bioner Space: tag English or Chinese biomedical text, or a file of documents.

The model (``BIONER_MODEL``: a folder or Hub id; default: the model bundled with hf-bioner)
loads in a background thread so the page is up at once and says it is loading. Entities are
tagged with every selector score kept, then filtered in the page by the score slider and
the type checkboxes, so moving the slider needs no new generation.

Types are shown by their readable names (``dis`` as "Disease (疾病)"); the checkboxes, the
``data-type`` of each highlight, the table's code column and the downloads keep the stable
codes that the library returns.
"""

from __future__ import annotations

import os

# No outbound calls besides loading the model: set before gradio and the Hub client load.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import html  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402

import gradio as gr  # noqa: E402

from hf_bioner.schema import readable_type_name  # noqa: E402

MAX_CHARS = 20_000  # longer text is refused with a message (use the file upload)
MAX_FILE_DOCUMENTS = 200
EXAMPLES = [
    "Germline mutations in BRCA1 predispose to hereditary breast and ovarian cancer.",
    "Naloxone reverses the antihypertensive effect of clonidine in patients with hypertension.",
    "IL-2 gene expression in activated human T cells requires NF-kappa B binding.",
    "患者3天前出现发热、咳嗽，胸部CT提示右下肺炎，予头孢曲松抗感染治疗。",
]
# One colour per bundled type (16), then grey; the highlights and the legend share them.
COLORS = ["#fde68a", "#bfdbfe", "#bbf7d0", "#fecaca", "#ddd6fe", "#fbcfe8", "#a5f3fc",
          "#fed7aa", "#d9f99d", "#c7d2fe", "#99f6e4", "#f5d0fe", "#fef08a", "#fda4af",
          "#bae6fd", "#d6d3d1", "#e5e7eb"]  # fmt: skip


class ModelHolder:
    """Loads the tagger once, in the background; ``get()`` waits for it."""

    def __init__(self, location: str | None):
        self.location = location
        self.tagger = None
        self.error: str | None = None
        self.ready = threading.Event()
        threading.Thread(target=self._load, daemon=True).start()

    def _load(self) -> None:
        try:
            from hf_bioner.models import load_trained
            from hf_bioner.pipeline import DEFAULT_MODEL, BioNerPipeline

            location = self.location or str(DEFAULT_MODEL)
            model, tokenizer, _ = load_trained(location, merge=True)
            self.tagger = BioNerPipeline(model=model, tokenizer=tokenizer)
        except Exception as err:  # shown in the page instead of a dead app
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self.ready.set()

    def get(self, timeout: float = 600):
        if not self.ready.wait(timeout):
            raise gr.Error("The model is still loading; try again in a moment.")
        if self.error:
            raise gr.Error(f"The model could not be loaded: {self.error}")
        return self.tagger

    def types(self) -> list[str]:
        """The model's type codes, in its type sets' order (English corpora, then CMeEE)."""
        if self.tagger is None:
            return []
        codes = (t.label for s in self.tagger.type_sets.values() for t in s.types)
        return list(dict.fromkeys(codes))

    def type_choices(self) -> list[tuple[str, str]]:
        """(readable name, code) per type: a person ticks names, the filter gets codes."""
        return [(readable_type_name(code), code) for code in self.types()]

    def default_threshold(self) -> float:
        selector = self.tagger.selector if self.tagger is not None else None
        return round(selector.config.threshold, 2) if selector is not None else 0.0


def color_of(label: str, labels: list[str]) -> str:
    return COLORS[labels.index(label) % len(COLORS)] if label in labels else COLORS[-1]


def nested_html(text: str, entities: list[dict], labels: list[str]) -> str:
    """The text with one ``<mark>`` per entity, nested ones inside their parents.

    An entity that crosses one already open (possible across type sets) is left out here;
    the table lists every entity.
    """
    parts: list[str] = []
    open_: list[dict] = []
    position = 0

    def text_until(index: int) -> None:
        nonlocal position
        parts.append(html.escape(text[position:index]))
        position = index

    def close_until(index: int) -> None:
        while open_ and open_[-1]["end"] <= index:
            e = open_.pop()
            text_until(e["end"])
            name = html.escape(readable_type_name(e["entity_group"]))
            parts.append(f'<sup class="bioner-type">{name}</sup></mark>')

    for e in sorted(entities, key=lambda e: (e["start"], -e["end"])):
        close_until(e["start"])
        if open_ and e["end"] > open_[-1]["end"]:
            continue  # crosses the open entity
        text_until(e["start"])
        code = html.escape(e["entity_group"])
        title = html.escape(readable_type_name(e["entity_group"]))
        score = "" if e["score"] is None else f" score {e['score']:.2f}"
        parts.append(f'<mark class="bioner-entity" data-type="{code}" title="{title}{score}" '
                     f'style="background:{color_of(e["entity_group"], labels)}">')  # fmt: skip
        open_.append(e)
    close_until(len(text))
    text_until(len(text))
    body = "".join(parts).replace("\n", "<br>")
    source = html.escape(text, quote=True)
    return f'<div class="bioner-text" data-text="{source}" style="line-height:2.2">{body}</div>'


def outermost(entities: list[dict]) -> list[dict]:
    """Entities not inside another (HighlightedText cannot draw nesting)."""
    kept: list[dict] = []
    for e in sorted(entities, key=lambda e: (e["start"], -e["end"])):
        if not kept or e["start"] >= kept[-1]["end"]:
            kept.append(e)
    return kept


def legend_colors(shown: list[dict], labels: list[str]) -> dict[str, str]:
    """The legend's colour per readable name of the types shown, the nested view's colours."""
    codes = dict.fromkeys(e["entity_group"] for e in shown)
    return {readable_type_name(code): color_of(code, labels) for code in codes}


def visible(text: str, entities: list[dict], threshold: float, types: list[str]) -> list[dict]:
    """The entities the filters keep, then each kept name copied to its other sentences as
    the pipeline's last step does (the text was tagged without it, so that what the filters
    hide neither blocks nor feeds a copy)."""
    from hf_bioner.pipeline import sentence_pieces
    from hf_bioner.propagation import propagate_mentions

    kept = [e for e in entities if e["entity_group"] in types
            and (e["score"] is None or e["score"] >= threshold)]  # fmt: skip
    return propagate_mentions(text, kept, sentence_pieces(text))


def build_demo(holder: ModelHolder) -> gr.Blocks:
    def status() -> str:
        if not holder.ready.is_set():
            return "Loading the model… the first tagging waits for it."
        if holder.error:
            return f"The model could not be loaded: {holder.error}"
        selector = "with its selector" if holder.tagger.selector else "without a selector"
        where = holder.location or "bundled default"
        return f"Model ready ({where}, {selector}, on {holder.tagger.device})."

    def tag_text(text, threshold, types, state):
        text = text or ""
        if not text.strip():
            gr.Warning("Enter some text to tag.")
            return None, "", [], "Enter some text to tag.", None
        if len(text) > MAX_CHARS:
            message = (f"The text has {len(text):,} characters; the limit here is "
                       f"{MAX_CHARS:,}. Split it, or upload it as a file.")  # fmt: skip
            gr.Warning(message)
            return None, "", [], message, None
        tagger = holder.get()
        options = {"propagate_mentions": False}  # applied to what the filters show
        if tagger.selector:
            options["threshold"] = 0.0  # every entity: the slider filters them
        entities = tagger(text, **options)
        state = {"text": text, "entities": entities}
        return (*render(state, threshold, types), state)

    def render(state, threshold, types):
        if not state:
            return None, "", [], ""
        text, labels = state["text"], holder.types()
        shown = visible(text, state["entities"], threshold, types or labels)
        spans = [{"entity": readable_type_name(e["entity_group"]), "start": e["start"],
                  "end": e["end"]} for e in outermost(shown)]  # fmt: skip
        highlighted = gr.update(value={"text": text, "entities": spans},
                                color_map=legend_colors(shown, labels))  # fmt: skip
        rows = [[readable_type_name(e["entity_group"]), e["entity_group"], e["word"], e["start"],
                 e["end"], None if e["score"] is None else round(e["score"], 3)]
                for e in shown]  # fmt: skip
        hidden = sum(e not in shown for e in state["entities"])
        note = f"{len(shown)} entities" + (f" ({hidden} hidden by the filters)" if hidden else "")
        return highlighted, nested_html(text, shown, labels), rows, note

    def tag_file(file, fmt, threshold):
        from hf_bioner.batch_tagging import iter_documents, tag_stream
        from hf_bioner.writers import open_writer

        if file is None:
            raise gr.Error("Choose a .txt, .jsonl or PubTator file first.")
        tagger = holder.get()
        documents = []
        for row in iter_documents([file]):
            documents.append(row)
            if len(documents) == MAX_FILE_DOCUMENTS:
                gr.Warning(f"Only the first {MAX_FILE_DOCUMENTS} documents are tagged here.")
                break
        suffix = ".jsonl" if fmt == "JSON Lines" else ".pubtator"
        out = os.path.join(tempfile.mkdtemp(prefix="bioner-"), "tagged" + suffix)
        options = {"threshold": threshold} if tagger.selector else {}
        with open_writer(out, "jsonl" if fmt == "JSON Lines" else "pubtator") as writer:
            counts = tag_stream(tagger, documents, writer, options)
        return out, f"{counts['tagged']} documents tagged, {counts['errors']} not taggable."

    with gr.Blocks(title="hf-bioner") as demo:
        gr.Markdown("# hf-bioner: biomedical NER in English and Chinese")
        state_line = gr.Markdown(status(), elem_id="status")
        state = gr.State(None)
        with gr.Tab("Text"):
            text = gr.Textbox(label="Text", lines=5, elem_id="input-text",
                              placeholder="Paste an abstract or a clinical note…")  # fmt: skip
            gr.Examples(EXAMPLES, inputs=text)
            with gr.Row():
                threshold = gr.Slider(0, 1, value=0.0, step=0.01, elem_id="threshold",
                                      label="Minimum selector score")  # fmt: skip
                types = gr.CheckboxGroup([], label="Entity types (none = all)",
                                         elem_id="types")  # fmt: skip
            button = gr.Button("Tag", variant="primary", elem_id="tag-button")
            note = gr.Markdown(elem_id="note")
            highlighted = gr.HighlightedText(label="Entities", show_legend=True,
                                             elem_id="highlighted")  # fmt: skip
            nested = gr.HTML(elem_id="nested")
            table = gr.Dataframe(headers=["type", "code", "text", "start", "end", "score"],
                                 label="All entities (nested included)", elem_id="table")  # fmt: skip
        with gr.Tab("File"):
            upload = gr.File(label=".txt (one document per line), .jsonl or PubTator",
                             file_types=[".txt", ".jsonl", ".pubtator"], elem_id="upload")  # fmt: skip
            fmt = gr.Radio(["JSON Lines", "PubTator"], value="JSON Lines", label="Output format")
            file_threshold = gr.Slider(0, 1, value=0.0, step=0.01, label="Minimum selector score")
            file_button = gr.Button("Tag file", variant="primary", elem_id="file-button")
            file_note = gr.Markdown(elem_id="file-note")
            download = gr.File(label="Result", elem_id="download")

        outputs = [highlighted, nested, table, note]
        button.click(tag_text, [text, threshold, types, state], [*outputs, state])
        text.submit(tag_text, [text, threshold, types, state], [*outputs, state])
        threshold.change(render, [state, threshold, types], outputs)
        types.change(render, [state, threshold, types], outputs)
        file_button.click(tag_file, [upload, fmt, file_threshold], [download, file_note])

        def when_ready():
            holder.ready.wait()
            value = holder.default_threshold()
            return (status(), gr.update(choices=holder.type_choices()), gr.update(value=value),
                    gr.update(value=value))  # fmt: skip

        demo.load(when_ready, None, [state_line, types, threshold, file_threshold])
    return demo


def main() -> None:
    holder = ModelHolder(os.environ.get("BIONER_MODEL"))
    demo = build_demo(holder)
    demo.queue(default_concurrency_limit=1).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        show_error=True,
    )


if __name__ == "__main__":
    main()
