"""The bottom layer: four-vectors and angles (vectors), angular matching (matching), anti-kT / C/A clustering and
soft drop (clustering). It imports nothing else of the project; io, generation, selection and features build on
it."""
