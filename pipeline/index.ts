import { DeliveryPipeline } from "../components/delivery-pipeline";
import { loadPipelineSettings, pipelineArgs } from "./settings";

const settings = loadPipelineSettings();
const delivery = new DeliveryPipeline("delivery", pipelineArgs(settings));

export const pipelineName = delivery.pipeline.name;
export const artifactBucket = delivery.artifactBucket.id;
export const connectionArn = delivery.connectionArn;
export const deployRoleArn = delivery.deployRole.arn;
