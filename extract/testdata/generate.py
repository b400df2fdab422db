"""Regenerates the binary fixtures (PDF, DOCX, ZIP, PNG) used by extract.rs tests.

    python -m venv /tmp/venv && /tmp/venv/bin/pip install fpdf2 python-docx
    /tmp/venv/bin/python generate.py   # needs fonts-dejavu-core for the Cyrillic page

The HTML, Confluence and Markdown fixtures are hand-written and live beside this script.
"""

import struct
import zipfile
import zlib
from pathlib import Path

from docx import Document
from fpdf import FPDF

HERE = Path(__file__).parent
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def pdf() -> None:
    doc = FPDF(format="A4")
    doc.set_title("Deployment runbook")
    doc.add_font("DejaVu", fname=FONT)
    doc.set_font("DejaVu", size=12)
    doc.add_page()
    doc.multi_cell(0, 8, "Deployment runbook")
    doc.ln(8)
    doc.multi_cell(
        0,
        8,
        "The billing service is deployed every Tuesday. Before a release, check that the "
        "database migrations have been reviewed and that the staging smoke tests are green.",
    )
    doc.ln(8)
    doc.multi_cell(
        0,
        8,
        "If the deployment fails, roll back with the previous image tag and open an incident.",
    )
    doc.add_page()
    doc.multi_cell(0, 8, "Резервное копирование")
    doc.ln(8)
    doc.multi_cell(
        0,
        8,
        "Резервные копии базы данных создаются каждую ночь и хранятся тридцать дней. "
        "Восстановление проверяется раз в месяц на отдельном стенде.",
    )
    doc.output(str(HERE / "runbook.pdf"))


def damaged_pdf() -> None:
    """runbook.pdf with one ToUnicode entry missing its closing `>` (same length, so the xref
    table stays valid): pdf-extract 0.12 panics on it (adobe-cmap-parser index out of bounds)."""
    data = (HERE / "runbook.pdf").read_bytes()
    start = data.index(b"beginbfchar\n") + len(b"beginbfchar\n")
    end = data.index(b"\n", start)
    line = data[start:end]
    assert line.endswith(b">"), line
    damaged = data[:start] + line[:-1] + b" " + data[end:]
    (HERE / "damaged-cmap.pdf").write_bytes(damaged)


def docx() -> None:
    d = Document()
    d.core_properties.title = "Onboarding guide"
    d.add_paragraph("Onboarding guide", style="Title")
    d.add_heading("Accounts", level=1)
    d.add_paragraph("Every new engineer gets a GitLab account and a Jira account on day one.")
    d.add_heading("Laptop setup", level=2)
    p = d.add_paragraph("Install the toolchain with ")
    p.add_run("rustup").bold = True
    p.add_run(", then clone the repository.")
    t = d.add_table(rows=3, cols=2)
    for r, (k, v) in enumerate([("System", "Owner"), ("GitLab", "Platform team"), ("Jira", "PMO")]):
        t.cell(r, 0).text = k
        t.cell(r, 1).text = v
    d.add_heading("Доступы", level=1)
    d.add_paragraph("Доступ к production выдаётся только после прохождения инструктажа.")
    d.save(str(HERE / "onboarding.docx"))


def not_docx_zip() -> None:
    with zipfile.ZipFile(HERE / "photos.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("readme.txt", "holiday photos\n" * 20)
        z.writestr("notes/list.txt", "one\ntwo\nthree\n")


def png() -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    (HERE / "screenshot-renamed.pdf").write_bytes(data)


if __name__ == "__main__":
    pdf()
    damaged_pdf()
    docx()
    not_docx_zip()
    png()
