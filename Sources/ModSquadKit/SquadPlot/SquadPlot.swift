// Plots to PNG over Cairo: canvas, colour maps, heatmaps, curves, image grids.
import SquadTensor
