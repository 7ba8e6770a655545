// Public exports of src/topology (re-exported by src/index.ts).
export {}
