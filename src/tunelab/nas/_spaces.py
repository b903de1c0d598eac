"""Architecture spaces: cells as ordinary tunelab Spaces (one Categorical per edge).

A cell is a small directed acyclic graph. Node 0 is the cell's input; nodes ``1..nodes``
are intermediate nodes, each the sum of an operation applied to every earlier node. Every
edge ``(src, dst)`` with ``src < dst`` is one Categorical parameter whose choices are the
candidate operations, ``"none"`` (no edge) included, so every searcher (random, evolution,
TPE, the REINFORCE controller...) works on cells unchanged.

This module needs only numpy; the networks built from cells live in :mod:`._network`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunelab._errors import InvalidArgumentError, InvalidConfigError
from tunelab.space import Categorical, Config, Space

__all__ = [
    "DARTS_OPS",
    "NB201_EDGES",
    "NB201_OPS",
    "CellSpace",
    "Genotype",
    "nasbench201_space",
]

#: Candidate operations of the general cell space (DARTS-like).
DARTS_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "max_pool_3x3",
    "avg_pool_3x3",
)
#: The five operations of NAS-Bench-201, in its order.
NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
#: NAS-Bench-201's six edges in the order of its architecture strings
#: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; parameter ``Op{k}`` is edge ``k``.
NB201_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
OUTPUTS = ("concat", "last")


@dataclass(frozen=True)
class Genotype:
    """A discrete cell: ``nodes`` intermediate nodes, ``edges`` as ``(src, dst, op)`` and
    how the cell's output is formed (``"concat"`` of the intermediate nodes, or the
    ``"last"`` node as in NAS-Bench-201). Edges whose op is ``"none"`` are left out.

    >>> g = Genotype(2, ((0, 1, "conv_3x3"), (0, 2, "skip_connect"), (1, 2, "conv_1x1")))
    >>> g.inputs(2)
    [(0, 'skip_connect'), (1, 'conv_1x1')]
    >>> g.count("skip_connect")
    1
    """

    nodes: int
    edges: tuple[tuple[int, int, str], ...]
    output: str = "concat"

    def inputs(self, node: int) -> list[tuple[int, str]]:
        """The ``(src, op)`` pairs feeding ``node``."""
        return [(s, op) for s, d, op in self.edges if d == node]

    def count(self, op: str) -> int:
        """How many edges use ``op``."""
        return sum(1 for *_, o in self.edges if o == op)

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "output": self.output,
                "edges": [[s, d, op] for s, d, op in self.edges]}


def _check_ops(ops: Sequence[str]) -> tuple[str, ...]:
    if isinstance(ops, str) or not isinstance(ops, Sequence) or len(ops) < 2:
        raise InvalidArgumentError(
            f"`ops` must be a sequence of at least two operation names; got {ops!r}"
        )
    out = tuple(str(o) for o in ops)
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"`ops` must not repeat a name; got {list(out)}")
    return out


class CellSpace(Space):
    """A cell search space: one Categorical over ``ops`` per edge of a ``nodes``-node cell.

    The parameters are named ``edge_{src}_{dst}`` unless ``names`` gives one name per edge
    (in the order of :attr:`edges`: by destination, then source). It is a
    :class:`~tunelab.Space`, so it goes to any :class:`~tunelab.Study` and searcher.

    >>> space = CellSpace(nodes=3, ops=("none", "skip_connect", "conv_3x3"))
    >>> len(space), space.edges[:3]
    (6, ((0, 1), (0, 2), (1, 2)))
    >>> config = space.sample(seed=0)
    >>> space.config_of(space.genotype(config)) == config
    True
    """

    def __init__(
        self,
        nodes: int = 4,
        ops: Sequence[str] = DARTS_OPS,
        *,
        output: str = "concat",
        names: Sequence[str] | None = None,
    ) -> None:
        if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= 8:
            raise InvalidArgumentError(f"`nodes` must be an integer in [1, 8]; got {nodes!r}")
        if output not in OUTPUTS:
            raise InvalidArgumentError(f"`output` must be one of {list(OUTPUTS)}; got {output!r}")
        self.nodes = nodes
        self.ops = _check_ops(ops)
        self.output = output
        self.edges: tuple[tuple[int, int], ...] = tuple(
            (s, d) for d in range(1, nodes + 1) for s in range(d)
        )
        if names is None:
            names = [f"edge_{s}_{d}" for s, d in self.edges]
        if len(names) != len(self.edges) or len(set(names)) != len(names):
            raise InvalidArgumentError(
                f"`names` must give {len(self.edges)} distinct names (one per edge); "
                f"got {names!r}"
            )
        self.edge_names: tuple[str, ...] = tuple(names)
        super().__init__({n: Categorical(list(self.ops)) for n in self.edge_names})

    def genotype(self, config: Mapping[str, Any]) -> Genotype:
        """The cell of a configuration (``"none"`` edges dropped)."""
        config = self.validate(config)
        edges = tuple(
            (s, d, str(config[n]))
            for (s, d), n in zip(self.edges, self.edge_names, strict=True)
            if config[n] != "none"
        )
        return Genotype(self.nodes, edges, self.output)

    def config_of(self, genotype: Genotype) -> Config:
        """The configuration of a cell (edges it lacks take ``"none"``)."""
        if genotype.nodes != self.nodes:
            raise InvalidConfigError(
                f"the genotype has {genotype.nodes} nodes; this space has {self.nodes}"
            )
        by_edge = {(s, d): op for s, d, op in genotype.edges}
        unknown = [e for e in by_edge if e not in self.edges]
        if unknown:
            raise InvalidConfigError(f"edges {unknown} are not in the cell; allowed: {self.edges}")
        if "none" not in self.ops and len(by_edge) < len(self.edges):
            raise InvalidConfigError("this space has no 'none' op, so every edge needs an op")
        config = {
            n: by_edge.get(e, "none") for e, n in zip(self.edges, self.edge_names, strict=True)
        }
        return self.validate(config)

    # A stored cell space reads back as a plain Space (the study stores parameters only);
    # rebuild the CellSpace itself to get genotypes.
    @classmethod
    def from_dict(cls, data: Any) -> Space:
        return Space.from_dict(data)

    @classmethod
    def from_json(cls, text: str) -> Space:
        return Space.from_json(text)

    @classmethod
    def from_yaml(cls, text: str) -> Space:
        return Space.from_yaml(text)

    @classmethod
    def from_file(cls, path: str) -> Space:
        return Space.from_file(path)

    def __repr__(self) -> str:
        return f"CellSpace(nodes={self.nodes}, ops={list(self.ops)!r}, output={self.output!r})"


def nasbench201_space() -> CellSpace:
    """The NAS-Bench-201 cell: 4 nodes (3 intermediate), 6 edges x 5 operations, output the
    last node; parameters ``Op0``..``Op5`` as in the tabular benchmark (edge order
    :data:`NB201_EDGES`).

    >>> space = nasbench201_space()
    >>> space.grid_size()
    15625
    """
    return CellSpace(3, NB201_OPS, output="last", names=[f"Op{k}" for k in range(6)])
