"""Flax NNX building blocks: spiral mesh convolution, mesh hierarchy, mesh encoder, ResNet,
AlexNet, MLP, graph attention, transformer encoder with a query token, the AU-specific feature
generator, and recorded TFLite graphs (the MediaPipe face networks)."""

from ._alexnet import AlexNet as AlexNet
from ._au_features import AUFeatureGenerator as AUFeatureGenerator
from ._graph_attention import GAT as GAT, GraphAttention as GraphAttention
from ._lite_graph import LiteGraph as LiteGraph, LiteOp as LiteOp, parse_program as parse_program
from ._mesh_encoder import SpiralDecoder as SpiralDecoder, SpiralEncoder as SpiralEncoder
from ._mesh_sampling import (
    MeshHierarchy as MeshHierarchy,
    MeshSampling as MeshSampling,
    build_mesh_hierarchy as build_mesh_hierarchy,
    closest_point_barycentric as closest_point_barycentric,
    mesh_pool as mesh_pool,
    mesh_unpool as mesh_unpool,
    qslim_decimate as qslim_decimate,
)
from ._mlp import ACTIVATIONS as ACTIVATIONS, MLP as MLP
from ._resnet import RESNET_STAGES as RESNET_STAGES, ResNet as ResNet
from ._spiral import (
    SpiralConv as SpiralConv,
    one_rings as one_rings,
    spiral_indices as spiral_indices,
)
from ._transformer import (
    QueryTokenEncoder as QueryTokenEncoder,
    TransformerEncoder as TransformerEncoder,
)
