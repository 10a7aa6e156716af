// Multi-task datasets: generators, readers, batching (see issue "Data and tasks").
import SquadTensor
