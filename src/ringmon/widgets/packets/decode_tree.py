"""A packet's protocol layers as a Tree (labels are rich Text: packet bytes are never read as markup); moving
the cursor says which bytes the node describes (FieldHighlighted)."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...decode import DecodedNode
from ...decode.tree import Span
from ...messages import FieldHighlighted


class PacketTree(Tree[Span | None]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("packet"), id=id)
        self.show_root = False

    def show(self, layers: list[DecodedNode]) -> None:
        """The tree of another packet; the cursor stays on the same line, so stepping through packets keeps
        showing the same field (and its bytes)."""
        line, self.cursor_line = self.cursor_line, -1  # so that setting it back is a move: its bytes are shown
        self.clear()
        for layer in layers:
            self._add(self.root, layer)
        self.root.expand_all()
        self.cursor_line = min(line, self.last_line)

    def _add(self, parent: TreeNode[Span | None], node: DecodedNode) -> None:
        label = Text(node.label, style="bold red" if node.malformed else "")
        if node.children:
            branch = parent.add(label, data=node.span, expand=True)
            for child in node.children:
                self._add(branch, child)
        else:
            parent.add_leaf(label, data=node.span)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Span | None]) -> None:
        event.stop()
        self.post_message(FieldHighlighted(event.node.data))
