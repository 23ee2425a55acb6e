"""Ecology: from predictions to the figures an ecologist publishes.

Modules (import what you need; nothing heavy is imported here):
  predictions  read classification / point / detection prediction CSVs, image metadata, groups
  counts       counts per taxon per sample (long and wide), percent cover from points
  diversity    richness, Shannon, Simpson, Hill numbers, evenness, coverage, Chao1, ACE
  rarefaction  Hurlbert rarefaction, Chao et al. (2014) interpolation/extrapolation, accumulation
  correction   confusion-matrix corrections (adjusted classify-and-count, Saerens EM) + bootstrap
  unknown      out-of-distribution flags, calibration, clustering, review queue
  taxonomy     rank table, roll-up to the lowest confident rank, per-rank metrics, distance
  darwincore   Darwin Core occurrence CSV and archive for OBIS/GBIF
  report       HTML sections for the biodiversity report
"""
