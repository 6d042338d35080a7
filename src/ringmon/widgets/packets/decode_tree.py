"""A packet's protocol layers as a Tree (labels are rich Text: packet bytes are never read as markup)."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...decode import DecodedNode


class PacketTree(Tree[None]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("packet"), id=id)
        self.show_root = False

    def show(self, layers: list[DecodedNode]) -> None:
        self.clear()
        for layer in layers:
            self._add(self.root, layer)
        self.root.expand_all()

    def _add(self, parent: TreeNode[None], node: DecodedNode) -> None:
        label = Text(node.label, style="bold red" if node.malformed else "")
        if node.children:
            branch = parent.add(label, expand=True)
            for child in node.children:
                self._add(branch, child)
        else:
            parent.add_leaf(label)
