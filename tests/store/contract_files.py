"""The indexed-file listing of the Store contract (``Store.list_files``, behind
ToolsService.ListFiles): files only, by (path, connector id), below a folder, in
keyset pages that neither skip nor repeat a file.

Mixed into the per-backend test classes; they provide the ``store`` fixture.
"""

from __future__ import annotations

from projectqa.server.models import Document, DocumentWrite, PageRequest
from projectqa.server.store import Store
from projectqa.server.store.file_listing import file_key

from .contract_ingestion import make_document


def _write(store: Store, *documents: Document) -> None:
    store.write_documents([DocumentWrite(document, []) for document in documents])


def _listed(store: Store, project_id: str, prefix: str = "", limit: int = 2) -> list[list[str]]:
    """Every page of the listing as "connector:path" strings."""
    pages: list[list[str]] = []
    after = None
    while found := store.list_files(project_id, PageRequest(limit, after), prefix):
        pages.append([f"{d.connector_id}:{d.path}" for d in found])
        after = file_key(found[-1])
    return pages


class FileListingContract:
    def test_lists_files_only_by_path_then_connector(self, store: Store) -> None:
        _write(
            store,
            make_document("con_b", "src/app.py"),
            make_document("con_a", "src/app.py"),
            make_document("con_a", "README.md"),
            make_document("con_a", "issue-7", kind="issue", path=""),
            make_document("con_z", "src/app.py", project_id="prj_2"),
        )

        pages = _listed(store, "prj_1", limit=2)

        assert pages == [["con_a:README.md", "con_a:src/app.py"], ["con_b:src/app.py"]]

    def test_a_folder_prefix_keeps_only_files_below_it(self, store: Store) -> None:
        paths = ["src", "src.py", "src/a.py", "src/api/b.py", "src-old/c.py", "src0/d.py", "t.py"]
        _write(store, *(make_document("con_1", path) for path in paths))

        assert _listed(store, "prj_1", "src", limit=10) == [
            ["con_1:src/a.py", "con_1:src/api/b.py"]
        ]
        assert _listed(store, "prj_1", "src/api", limit=10) == [["con_1:src/api/b.py"]]
        assert _listed(store, "prj_1", "nothing", limit=10) == []

    def test_pages_neither_skip_nor_repeat_across_many_files(self, store: Store) -> None:
        paths = [f"pkg{i % 7}/mod{i:03d}.py" for i in range(120)]
        _write(store, *(make_document(f"con_{i % 2}", path) for i, path in enumerate(paths)))

        pages = _listed(store, "prj_1", limit=25)
        listed = [entry for page in pages for entry in page]

        assert [len(page) for page in pages] == [25, 25, 25, 25, 20]
        expected = sorted((path, f"con_{i % 2}") for i, path in enumerate(paths))
        assert listed == [f"{connector}:{path}" for path, connector in expected]
        assert _listed(store, "prj_1", "pkg3", limit=4) != []
        assert all(
            e.split(":")[1].startswith("pkg3/") for p in _listed(store, "prj_1", "pkg3") for e in p
        )

    def test_the_stored_record_comes_back_whole(self, store: Store) -> None:
        document = make_document("con_1", "lib/x.go", language="go", chunk_count=3, line_count=42)
        _write(store, document)

        (listed,) = store.list_files("prj_1", PageRequest(10))

        assert (listed.path, listed.language, listed.line_count) == ("lib/x.go", "go", 42)
        assert listed.metadata == {"size": 10}
        assert store.list_files("prj_1", PageRequest(0)) == []
