"""The kinds of stored result values (shared by the worker's columns, widening and storage).

``fixed``
    Numbers, or arrays of one shape.
``ragged``
    Numeric arrays whose shape varies from run to run.
``string``
    Text (any code point: NUL and lone surrogates included).
``bytes``
    Binary data.
``pickle``
    pandas DataFrame / Series, stored as pickles and loaded back as the object.
"""
FIXED, RAGGED, STRING, BYTES, PICKLE = "fixed", "ragged", "string", "bytes", "pickle"
#: kinds stored as variable-length rows (values + offsets)
VARIABLE = (RAGGED, STRING, BYTES, PICKLE)
