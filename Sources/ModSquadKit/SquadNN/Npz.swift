// NumPy .npz archives: several .npy arrays in one uncompressed ZIP (what numpy.savez writes), written atomically.
import Foundation
import SquadTensor

public enum NPZ {
    /// Writes `arrays` (name → tensor; `name.npy` inside the archive) so that numpy.load(path)[name] gives each.
    public static func write(_ arrays: [(String, Tensor)], to url: URL) throws {
        var names = Set<String>()
        var zip = Data(), central = Data()
        for (name, t) in arrays {
            guard !name.isEmpty, names.insert(name).inserted else {
                throw TensorError.io(path: url.path, message: "npz: array name '\(name)' is empty or given twice")
            }
            let file = Data((name + ".npy").utf8), body = NPY.encode(t)
            guard body.count < Int(UInt32.max), zip.count < Int(UInt32.max) else {
                throw TensorError.io(path: url.path, message: "npz: '\(name)' does not fit a ZIP without ZIP64 (4 GiB)")
            }
            let crc = crc32(body), offset = UInt32(zip.count)
            // local file header: stored (method 0), no data descriptor
            zip.append(le32(0x0403_4b50)); zip.append(le16(20)); zip.append(le16(0)); zip.append(le16(0))
            zip.append(le16(0)); zip.append(le16(0x21))   // DOS time/date: 1980-01-01
            zip.append(le32(crc)); zip.append(le32(UInt32(body.count))); zip.append(le32(UInt32(body.count)))
            zip.append(le16(UInt16(file.count))); zip.append(le16(0)); zip.append(file); zip.append(body)
            // its central directory entry
            central.append(le32(0x0201_4b50)); central.append(le16(20)); central.append(le16(20)); central.append(le16(0))
            central.append(le16(0)); central.append(le16(0)); central.append(le16(0x21))
            central.append(le32(crc)); central.append(le32(UInt32(body.count))); central.append(le32(UInt32(body.count)))
            central.append(le16(UInt16(file.count))); central.append(le16(0)); central.append(le16(0))
            central.append(le16(0)); central.append(le16(0)); central.append(le32(0)); central.append(le32(offset))
            central.append(file)
        }
        let cdOffset = UInt32(zip.count)
        zip.append(central)
        zip.append(le32(0x0605_4b50)); zip.append(le16(0)); zip.append(le16(0))
        zip.append(le16(UInt16(arrays.count))); zip.append(le16(UInt16(arrays.count)))
        zip.append(le32(UInt32(central.count))); zip.append(le32(cdOffset)); zip.append(le16(0))
        try IOFile.replaceAtomically(url, with: zip)
    }

    static func le16(_ v: UInt16) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }
    static func le32(_ v: UInt32) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }

    /// CRC-32 (IEEE 802.3, as ZIP uses).
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    static func crc32(_ d: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        d.withUnsafeBytes { for b in $0 { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) } }
        return c ^ 0xFFFF_FFFF
    }
}
