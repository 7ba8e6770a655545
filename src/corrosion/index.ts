// Public exports of src/corrosion (re-exported by src/index.ts).
export {}
