// The built-in task plugins, in the order `plugins` lists them.
import SquadPluginAPI
import SquadData

func builtinTasks() -> [TaskPlugin] {
    let shapes = SceneShape.allCases.map(\.name)
    return [
        // scenes
        SegmentationTask(name: "segment", classes: shapes.count + 1, classNames: ["background"] + shapes,
                         summary: "dense: scene segmentation, background + \(shapes.count) shapes (cross-entropy; mIoU, pixel accuracy)"),
        DepthTask(),
        NormalsTask(),
        EdgeTask(name: "edge", summary: "dense: occlusion edges (scenes) or outline edges (fashion), 1 channel (L1; MAE, F1 at 0.5)"),
        EdgeTask(name: "texture_edge", summary: "dense: texture edges inside surfaces, 1 channel (L1; MAE, F1 at 0.5)"),
        UnitMapTask.keypoints(),
        UnitMapTask.reshading(),
        ReconstructionTask(name: "albedo", channels: 3, summary: "dense: albedo, the colour without shading, 3 channels (L1; MAE, PSNR)"),
        RegressionTask(name: "count", outputs: 1, summary: "global: number of visible objects (MSE; MAE, RMSE)"),
        ClassificationTask(name: "shape", classes: shapes.count, classNames: shapes,
                           summary: "global: the shape covering most pixels, of \(shapes.count) (cross-entropy; top-1)"),
        // fashion
        ClassificationTask(name: "class", classes: FashionMNIST.classNames.count, classNames: FashionMNIST.classNames,
                           summary: "global: Fashion-MNIST class of 10 (cross-entropy; top-1)"),
        ClassificationTask(name: "group", classes: FashionMNIST.groupNames.count, classNames: FashionMNIST.groupNames,
                           summary: "global: coarse group (tops, bottoms and dresses, footwear, bags) (cross-entropy; top-1)"),
        ReconstructionTask(name: "reconstruct", channels: 1,
                           summary: "dense: the clean grey image: reconstruction, or denoising with input noise (L1; MAE, PSNR)"),
        SegmentationTask(name: "mask", classes: 2, classNames: ["background", "item"],
                         summary: "dense: foreground mask, 2 classes (cross-entropy; mIoU, pixel accuracy)"),
        // multifashion
        ClassificationTask(name: "left", classes: FashionMNIST.classNames.count, classNames: FashionMNIST.classNames,
                           summary: "global: class of the left item (cross-entropy; top-1)"),
        ClassificationTask(name: "right", classes: FashionMNIST.classNames.count, classNames: FashionMNIST.classNames,
                           summary: "global: class of the right item (cross-entropy; top-1)"),
        SegmentationTask(name: "which", classes: 3, classNames: ["background", "left", "right"],
                         summary: "dense: which item each pixel shows: background, left, right (cross-entropy; mIoU, pixel accuracy)"),
    ]
}
