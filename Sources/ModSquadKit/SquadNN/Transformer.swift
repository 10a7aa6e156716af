// A plain pre-norm transformer block and a small ViT classifier built from the
// basic layers: the dense baseline's building block and the engine's smoke model.
import SquadTensor

public final class TransformerBlock: Module {
    public let norm1: LayerNorm, attn: MultiHeadAttention, norm2: LayerNorm, mlp: MLP
    public init(dim: Int, heads: Int, mlpRatio: Int = 4, rng: inout RNG) {
        norm1 = LayerNorm(dim)
        attn = MultiHeadAttention(dim, heads: heads, rng: &rng)
        norm2 = LayerNorm(dim)
        mlp = MLP(dim, hidden: dim * mlpRatio, rng: &rng)
    }
    public override var children: [(String, Module)] { [("norm1", norm1), ("attn", attn), ("norm2", norm2), ("mlp", mlp)] }
    /// x [B, N, D] -> [B, N, D]
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h = try x.add(attn(norm1(x)))
        return try h.add(mlp(norm2(h)))
    }
}

public final class ViTClassifier: Module {
    public let patchEmbed: PatchEmbedding, pos: PositionEmbedding
    public let blocks: ModuleList<TransformerBlock>
    public let norm: LayerNorm, head: Linear

    public init(image: Int, patch: Int, channels: Int, dim: Int, depth: Int, heads: Int, classes: Int, rng: inout RNG) throws {
        patchEmbed = try PatchEmbedding(image: image, patch: patch, channels: channels, dim: dim, rng: &rng)
        pos = PositionEmbedding(patchEmbed.patches, dim, rng: &rng)
        var bs: [TransformerBlock] = []
        for _ in 0..<depth { bs.append(TransformerBlock(dim: dim, heads: heads, rng: &rng)) }
        blocks = ModuleList(bs)
        norm = LayerNorm(dim)
        head = Linear(dim, classes, rng: &rng)
    }
    public override var children: [(String, Module)] {
        [("patch_embed", patchEmbed), ("pos_embed", pos), ("blocks", blocks), ("norm", norm), ("head", head)]
    }

    /// images [B, C, H, W] -> logits [B, classes] (mean-pooled tokens)
    public func callAsFunction(_ images: Tensor) throws -> Tensor {
        var x = try pos(patchEmbed(images))
        for b in blocks.items { x = try b(x) }
        return try head(norm(x).mean(axis: 1))
    }
}
