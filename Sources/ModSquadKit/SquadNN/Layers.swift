// Basic layers: Linear, LayerNorm, Embedding, MLP (GELU), multi-head attention
// with fused qkv, patch embedding (reshape + permute + matmul), learned positions.
import SquadTensor

public final class Linear: Module {
    public let weight: Tensor          // [out, in]
    public let bias: Tensor?           // [out]
    public let inFeatures: Int, outFeatures: Int

    /// PyTorch's nn.Linear default, weight and bias U(±1/√in) (std 1/√(3·in)); with `std`, timm's ViT init:
    /// trunc_normal(std) weights and zero bias. timm's 0.02 is PyTorch's scale at width 768 (1/√(3·768) =
    /// 0.021) but 2–3.6x smaller at msq's widths of 64–192, where a single-task squad then fit 256 Fashion-MNIST
    /// images to 79% in 300 steps instead of 98%.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, std: Float? = nil, rng: inout RNG) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        if let std = std {
            weight = Tensor.truncatedNormal([outFeatures, inFeatures], std: std, rng: &rng, requiresGrad: true)
            self.bias = bias ? Tensor(zeros: [outFeatures], requiresGrad: true) : nil
        } else {
            let b = 1 / Float(max(inFeatures, 1)).squareRoot()
            weight = Tensor.uniform([outFeatures, inFeatures], -b, b, rng: &rng, requiresGrad: true)
            self.bias = bias ? Tensor.uniform([outFeatures], -b, b, rng: &rng, requiresGrad: true) : nil
        }
    }

    /// Redraws the weights as timm's ViT init: trunc_normal(std), zero bias.
    public func resetTruncNormal(std: Float = 0.02, rng: inout RNG) {
        let w = Tensor.truncatedNormal(weight.shape, std: std, rng: &rng)
        weight.data.update(from: w.data, count: w.count)
        if let b = bias { b.data.initialize(repeating: 0, count: b.count) }
    }

    public override var localParameters: [(String, Tensor)] {
        var p: [(String, Tensor)] = [("weight", weight)]
        if let b = bias { p.append(("bias", b)) }
        return p
    }

    /// x [*, in] -> [*, out]
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.linear(weight, bias) }
}

public final class LayerNorm: Module {
    public let weight: Tensor, bias: Tensor   // [D]
    public let eps: Float
    public init(_ dim: Int, eps: Float = 1e-6) {
        weight = Tensor(repeating: 1, shape: [dim], requiresGrad: true)
        bias = Tensor(zeros: [dim], requiresGrad: true)
        self.eps = eps
    }
    public override var localParameters: [(String, Tensor)] { [("weight", weight), ("bias", bias)] }
    /// x [*, D] -> [*, D]
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.layerNorm(weight, bias, eps: eps) }
}

public final class Embedding: Module {
    public let weight: Tensor   // [count, dim]
    public init(_ count: Int, _ dim: Int, std: Float = 0.02, rng: inout RNG) {
        weight = Tensor.truncatedNormal([count, dim], std: std, rng: &rng, requiresGrad: true)
    }
    public override var localParameters: [(String, Tensor)] { [("weight", weight)] }
    public override func decays(_ n: String, _ t: Tensor) -> Bool { false }
    /// ids [M] -> [M, dim]
    public func callAsFunction(_ ids: [Int]) throws -> Tensor { try weight.gatherRows(ids) }
}

public final class MLP: Module {
    public let fc1: Linear, fc2: Linear
    public init(_ dim: Int, hidden: Int, rng: inout RNG) {
        fc1 = Linear(dim, hidden, rng: &rng)
        fc2 = Linear(hidden, dim, rng: &rng)
    }
    public override var children: [(String, Module)] { [("fc1", fc1), ("fc2", fc2)] }
    /// x [*, D] -> [*, D]
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try fc2(try fc1(x).gelu()) }
}

public final class MultiHeadAttention: Module {
    public let qkv: Linear, proj: Linear
    public let heads: Int, headDim: Int
    /// heads × headDim may differ from dim (the authors' dense attention uses head_dim 128).
    public init(_ dim: Int, heads: Int, headDim: Int? = nil, rng: inout RNG) {
        self.heads = heads
        self.headDim = headDim ?? dim / heads
        qkv = Linear(dim, 3 * heads * self.headDim, rng: &rng)
        proj = Linear(heads * self.headDim, dim, rng: &rng)
    }
    public override var children: [(String, Module)] { [("qkv", qkv), ("proj", proj)] }

    /// x [B, N, D] -> [B, N, D]
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.ndim == 3 else { throw TensorError.shapeMismatch(op: "MultiHeadAttention", shapes: [x.shape], expected: "[B, N, D]") }
        let b = x.shape[0], n = x.shape[1], h = heads, d = headDim
        let fused = try qkv(x)                                                          // [B, N, 3·H·d]
        let merged = try Tensor.headAttention(q: fused, k: fused, kOffset: h * d, v: fused, vOffset: 2 * h * d,
                                              heads: h, headDim: d)                     // [B, N, H·d]
        return try proj(merged)
    }
}

public final class PatchEmbedding: Module {
    public let proj: Linear       // [D, C·p·p], the layout of PyTorch's Conv2d weight flattened
    public let patch: Int, channels: Int, image: Int
    public var patches: Int { (image / patch) * (image / patch) }

    /// Initialised as PyTorch's Conv2d default, U(±1/√(C·p·p)), as the authors' timm PatchEmbed (timm's
    /// init_weights leaves convolutions alone), which is also the Linear default.
    public init(image: Int, patch: Int, channels: Int, dim: Int, rng: inout RNG) throws {
        guard patch > 0, image % patch == 0 else { throw ModuleError.invalidConfig("image size \(image) is not a multiple of patch \(patch)") }
        self.patch = patch; self.channels = channels; self.image = image
        proj = Linear(channels * patch * patch, dim, rng: &rng)
    }
    public override var children: [(String, Module)] { [("proj", proj)] }

    /// images [B, C, H, W] -> [B, (H/p)(W/p), D]
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.ndim == 4, x.shape[1] == channels, x.shape[2] == image, x.shape[3] == image else {
            throw TensorError.shapeMismatch(op: "PatchEmbedding", shapes: [x.shape], expected: "[B, \(channels), \(image), \(image)]")
        }
        let b = x.shape[0], g = image / patch, p = patch
        let cols = try x.reshaped([b, channels, g, p, g, p]).permuted([0, 2, 4, 1, 3, 5]).reshaped([b, g * g, channels * p * p])
        return try proj(cols)
    }
}

public final class PositionEmbedding: Module {
    public let weight: Tensor   // [N, D]
    public init(_ count: Int, _ dim: Int, rng: inout RNG) {
        weight = Tensor.truncatedNormal([count, dim], std: 0.02, rng: &rng, requiresGrad: true)
    }
    public override var localParameters: [(String, Tensor)] { [("weight", weight)] }
    public override func decays(_ n: String, _ t: Tensor) -> Bool { false }
    /// x [B, N, D] -> x + pos (broadcast over B)
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.add(weight) }
}
