/**
 * The ONNX protobuf schema (onnx/onnx.proto, IR version 11), as a protobufjs JSON descriptor.
 *
 * Why not onnx-proto's generated code alone: onnx-proto 8.0.1 is the IR 8 schema, and its static
 * decoder silently drops newer fields (NodeProto.metadata_props = 9, GraphProto.metadata_props = 16,
 * ...). Exporters from 2024 on write them. We keep onnx-proto's TypeScript interfaces (see types.ts)
 * and decode with this descriptor through protobufjs reflection, so every field of IR <= 11 survives a
 * load -> save, and a field that even this schema does not know is reported by name (unknown.ts).
 *
 * Field names are camelCase, as protobufjs and onnx-proto spell them; numbers are the spec's.
 */
import protobuf from 'protobufjs';
import Long from 'long';

const str = (id: number) => ({ type: 'string', id });
const i64 = (id: number) => ({ type: 'int64', id });
const i32 = (id: number) => ({ type: 'int32', id });
const rep = (type: string, id: number, packed?: boolean) =>
  packed === undefined
    ? { rule: 'repeated', type, id, options: isScalar(type) ? { packed: false } : undefined }
    : { rule: 'repeated', type, id, options: { packed } };
const msg = (type: string, id: number) => ({ type, id });

function isScalar(type: string): boolean {
  return ['int64', 'int32', 'uint64', 'float', 'double', 'bool'].includes(type);
}

const descriptor = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: str(1),
            refAttrName: str(21),
            docString: str(13),
            type: { type: 'AttributeType', id: 20 },
            f: { type: 'float', id: 2 },
            i: i64(3),
            s: { type: 'bytes', id: 4 },
            t: msg('TensorProto', 5),
            g: msg('GraphProto', 6),
            sparseTensor: msg('SparseTensorProto', 22),
            tp: msg('TypeProto', 14),
            floats: rep('float', 7),
            ints: rep('int64', 8),
            strings: rep('bytes', 9),
            tensors: rep('TensorProto', 10),
            graphs: rep('GraphProto', 11),
            sparseTensors: rep('SparseTensorProto', 23),
            typeProtos: rep('TypeProto', 15),
          },
          nested: {
            AttributeType: {
              values: {
                UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, SPARSE_TENSOR: 11,
                TYPE_PROTO: 13, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10,
                SPARSE_TENSORS: 12, TYPE_PROTOS: 14,
              },
            },
          },
        },
        ValueInfoProto: {
          fields: { name: str(1), type: msg('TypeProto', 2), docString: str(3), metadataProps: rep('StringStringEntryProto', 4) },
        },
        NodeProto: {
          fields: {
            input: rep('string', 1),
            output: rep('string', 2),
            name: str(3),
            opType: str(4),
            domain: str(7),
            overload: str(8),
            attribute: rep('AttributeProto', 5),
            docString: str(6),
            metadataProps: rep('StringStringEntryProto', 9),
            deviceConfigurations: rep('NodeDeviceConfigurationProto', 10),
          },
        },
        IntIntListEntryProto: { fields: { key: i64(1), value: rep('int64', 2) } },
        NodeDeviceConfigurationProto: {
          fields: { configurationId: str(1), shardingSpec: rep('ShardingSpecProto', 2), pipelineStage: i32(3) },
        },
        ShardingSpecProto: {
          fields: {
            tensorName: str(1),
            device: rep('int64', 2),
            indexToDeviceGroupMap: rep('IntIntListEntryProto', 3),
            shardedDim: rep('ShardedDimProto', 4),
          },
        },
        ShardedDimProto: { fields: { axis: i64(1), simpleSharding: rep('SimpleShardedDimProto', 2) } },
        SimpleShardedDimProto: {
          oneofs: { dim: { oneof: ['dimValue', 'dimParam'] } },
          fields: { dimValue: i64(1), dimParam: str(2), numShards: i64(3) },
        },
        TrainingInfoProto: {
          fields: {
            initialization: msg('GraphProto', 1),
            algorithm: msg('GraphProto', 2),
            initializationBinding: rep('StringStringEntryProto', 3),
            updateBinding: rep('StringStringEntryProto', 4),
          },
        },
        ModelProto: {
          fields: {
            irVersion: i64(1),
            opsetImport: rep('OperatorSetIdProto', 8),
            producerName: str(2),
            producerVersion: str(3),
            domain: str(4),
            modelVersion: i64(5),
            docString: str(6),
            graph: msg('GraphProto', 7),
            metadataProps: rep('StringStringEntryProto', 14),
            trainingInfo: rep('TrainingInfoProto', 20),
            functions: rep('FunctionProto', 25),
            configuration: rep('DeviceConfigurationProto', 26),
          },
        },
        DeviceConfigurationProto: { fields: { name: str(1), numDevices: i32(2), device: rep('string', 3) } },
        StringStringEntryProto: { fields: { key: str(1), value: str(2) } },
        TensorAnnotation: {
          fields: { tensorName: str(1), quantParameterTensorNames: rep('StringStringEntryProto', 2) },
        },
        GraphProto: {
          fields: {
            node: rep('NodeProto', 1),
            name: str(2),
            initializer: rep('TensorProto', 5),
            sparseInitializer: rep('SparseTensorProto', 15),
            docString: str(10),
            input: rep('ValueInfoProto', 11),
            output: rep('ValueInfoProto', 12),
            valueInfo: rep('ValueInfoProto', 13),
            quantizationAnnotation: rep('TensorAnnotation', 14),
            metadataProps: rep('StringStringEntryProto', 16),
          },
        },
        TensorProto: {
          fields: {
            dims: rep('int64', 1),
            dataType: i32(2),
            segment: msg('Segment', 3),
            floatData: rep('float', 4, true),
            int32Data: rep('int32', 5, true),
            stringData: rep('bytes', 6),
            int64Data: rep('int64', 7, true),
            name: str(8),
            docString: str(12),
            rawData: { type: 'bytes', id: 9 },
            externalData: rep('StringStringEntryProto', 13),
            dataLocation: { type: 'DataLocation', id: 14 },
            doubleData: rep('double', 10, true),
            uint64Data: rep('uint64', 11, true),
            metadataProps: rep('StringStringEntryProto', 16),
          },
          nested: {
            Segment: { fields: { begin: i64(1), end: i64(2) } },
            DataLocation: { values: { DEFAULT: 0, EXTERNAL: 1 } },
            DataType: {
              values: {
                UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7,
                STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14,
                COMPLEX128: 15, BFLOAT16: 16, FLOAT8E4M3FN: 17, FLOAT8E4M3FNUZ: 18, FLOAT8E5M2: 19,
                FLOAT8E5M2FNUZ: 20, UINT4: 21, INT4: 22, FLOAT4E2M1: 23, FLOAT8E8M0: 24,
              },
            },
          },
        },
        SparseTensorProto: {
          fields: { values: msg('TensorProto', 1), indices: msg('TensorProto', 2), dims: rep('int64', 3) },
        },
        TensorShapeProto: {
          fields: { dim: rep('Dimension', 1) },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: { dimValue: i64(1), dimParam: str(2), denotation: str(3) },
            },
          },
        },
        TypeProto: {
          oneofs: {
            value: { oneof: ['tensorType', 'sequenceType', 'mapType', 'optionalType', 'sparseTensorType', 'opaqueType'] },
          },
          fields: {
            tensorType: msg('Tensor', 1),
            sequenceType: msg('Sequence', 4),
            mapType: msg('Map', 5),
            optionalType: msg('Optional', 9),
            sparseTensorType: msg('SparseTensor', 8),
            opaqueType: msg('Opaque', 7),
            denotation: str(6),
          },
          nested: {
            Tensor: { fields: { elemType: i32(1), shape: msg('TensorShapeProto', 2) } },
            Sequence: { fields: { elemType: msg('TypeProto', 1) } },
            Map: { fields: { keyType: i32(1), valueType: msg('TypeProto', 2) } },
            Optional: { fields: { elemType: msg('TypeProto', 1) } },
            SparseTensor: { fields: { elemType: i32(1), shape: msg('TensorShapeProto', 2) } },
            Opaque: { fields: { domain: str(1), name: str(2) } },
          },
        },
        OperatorSetIdProto: { fields: { domain: str(1), version: i64(2) } },
        FunctionProto: {
          fields: {
            name: str(1),
            input: rep('string', 4),
            output: rep('string', 5),
            attribute: rep('string', 6),
            attributeProto: rep('AttributeProto', 11),
            node: rep('NodeProto', 7),
            docString: str(8),
            opsetImport: rep('OperatorSetIdProto', 9),
            domain: str(10),
            overload: str(13),
            valueInfo: rep('ValueInfoProto', 12),
            metadataProps: rep('StringStringEntryProto', 14),
          },
        },
      },
    },
  },
};

// int64 fields decode to Long so that values such as INT64_MAX (Slice ends) survive a round trip.
protobuf.util.Long = Long as unknown as typeof protobuf.util.Long;
protobuf.configure();

export const onnxRoot: protobuf.Root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);
export const ModelProtoType: protobuf.Type = onnxRoot.lookupType('onnx.ModelProto');
export const TensorProtoType: protobuf.Type = onnxRoot.lookupType('onnx.TensorProto');
export const GraphProtoType: protobuf.Type = onnxRoot.lookupType('onnx.GraphProto');
