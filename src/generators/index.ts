// Public exports of src/generators (re-exported by src/index.ts).
export {}
